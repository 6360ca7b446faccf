"""What the Prolog/Epilog shims and ``agent set-cap`` hand to the agent.

``$SPOOL/jobs/<jobid>.start`` and ``<jobid>.stop`` hold ``KEY=VALUE`` lines:
``JOB_ID``, ``SLURM_JOB_GPUS``, ``CUDA_VISIBLE_DEVICES``, ``SLURM_JOB_UID``,
``COMMENT_HEX`` (the job comment's bytes in hex) and ``TIME`` (seconds since
the epoch). Every file is written to a temporary name in the same directory
and renamed into place, so a reader never sees half of one. A cap request
(``JOB_ID``, ``GPU`` as UUID or minor, ``WATTS``) comes over the agent's socket
(:mod:`slurm_carbon.agent.capsock`). Every field is bounded before it is used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from slurm_carbon.atomic import write_atomically

__all__ = [
    "HANDOFF_MAX_BYTES",
    "JOB_ID_MAX",
    "CapRequest",
    "HandoffRecord",
    "check_gpu_name",
    "parse_cap_request",
    "parse_handoff",
    "parse_job_id",
    "parse_key_values",
    "write_key_values",
]

#: A shim's file is six short lines, the job comment (cut to 4 KiB by the shim, so
#: 8 KiB of hex) and two GPU lists: anything larger was not written by a shim.
HANDOFF_MAX_BYTES = 16 * 1024

#: Slurm job ids are unsigned 32-bit (a 26-bit local id and a 6-bit federation
#: cluster id); 0xfffffffe and 0xffffffff are Slurm's NO_VAL and INFINITE.
JOB_ID_MAX = 0xFFFFFFFD

#: uid_t is 32-bit and (uid_t)-1 means "no uid".
_UID_MAX = 0xFFFFFFFE

#: A hook time must be finite (NaN would break every comparison) and before
#: 2100-01-01 UTC (no real clock is that late; later times never close an interval).
_TIME_MAX_S = 4_102_444_800.0

_DECIMAL = re.compile(r"[0-9]{1,10}")

#: A GPU as set-cap names it: a minor number, or an NVIDIA GPU or MIG UUID.
_GPU_NAME = re.compile(r"[0-9]{1,3}|(GPU|MIG)-[0-9A-Za-z-]{1,80}")


def parse_job_id(text: str) -> int:
    """A Slurm job id in plain ASCII decimal, 1 .. :data:`JOB_ID_MAX`.

    Raises:
        ValueError: Anything else.
    """
    if _DECIMAL.fullmatch(text) and 1 <= int(text) <= JOB_ID_MAX:
        return int(text)
    raise ValueError(f"job id {text[:20]!r} is not 1 .. {JOB_ID_MAX}")


@dataclass(frozen=True)
class HandoffRecord:
    """One ``.start`` or ``.stop`` file.

    Attributes:
        job_id: ``SLURM_JOB_ID``.
        time_s: When the hook ran. Units: seconds since the epoch.
        job_gpus: ``SLURM_JOB_GPUS`` (minor numbers), possibly empty.
        cuda_visible_devices: ``CUDA_VISIBLE_DEVICES`` as the Prolog saw it.
        uid: ``SLURM_JOB_UID`` or ``None``.
        comment: ``SLURM_JOB_COMMENT`` (decoded), possibly empty.
    """

    job_id: int
    time_s: float
    job_gpus: str = ""
    cuda_visible_devices: str = ""
    uid: int | None = None
    comment: str = ""


@dataclass(frozen=True)
class CapRequest:
    """A power cap asked for one GPU of one job. Units: watts."""

    job_id: int
    gpu: str
    watts: float


def parse_key_values(text: str) -> dict[str, str]:
    """Return the ``KEY=VALUE`` pairs of ``text``; lines without ``=`` are skipped."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


def parse_handoff(text: str) -> HandoffRecord:
    """Parse a ``.start``/``.stop`` file.

    Raises:
        ValueError: ``JOB_ID`` or ``TIME`` is missing, or out of its range.
    """
    pairs = parse_key_values(text)
    if "JOB_ID" not in pairs or "TIME" not in pairs:
        raise ValueError("JOB_ID and TIME are required")
    job_id = parse_job_id(pairs["JOB_ID"])
    time_s = float(pairs["TIME"][:40])
    if not (math.isfinite(time_s) and 0.0 <= time_s < _TIME_MAX_S):
        raise ValueError(f"TIME {time_s} is not between 1970 and 2100")
    uid_text = pairs.get("SLURM_JOB_UID", "")
    uid = int(uid_text) if _DECIMAL.fullmatch(uid_text) else None
    try:
        comment = bytes.fromhex(pairs.get("COMMENT_HEX", "")).decode("utf-8", "replace")
    except ValueError:
        comment = ""
    return HandoffRecord(
        job_id=job_id,
        time_s=time_s,
        job_gpus=pairs.get("SLURM_JOB_GPUS", ""),
        cuda_visible_devices=pairs.get("CUDA_VISIBLE_DEVICES", ""),
        uid=uid if uid is not None and uid <= _UID_MAX else None,
        comment=comment,
    )


def check_gpu_name(gpu: str) -> None:
    """Refuse a GPU name that is neither a minor number nor a GPU/MIG UUID.

    Raises:
        ValueError: Naming the value.
    """
    if not _GPU_NAME.fullmatch(gpu):
        raise ValueError(f"{gpu[:80]!r} is neither a minor number nor a UUID (GPU-...)")


def parse_cap_request(text: str) -> CapRequest:
    """Parse a cap request: ``JOB_ID``, ``GPU`` (minor number or UUID), ``WATTS`` (> 0).

    Raises:
        ValueError: A field is missing or out of its range.
    """
    pairs = parse_key_values(text)
    try:
        job_id, gpu, watts_text = pairs["JOB_ID"], pairs["GPU"], pairs["WATTS"]
    except KeyError as err:
        raise ValueError(f"missing {err.args[0]}") from err
    check_gpu_name(gpu)
    watts = float(watts_text[:40])
    if not (math.isfinite(watts) and watts > 0):
        raise ValueError(f"WATTS {watts} is not a positive number")
    return CapRequest(parse_job_id(job_id), gpu, watts)


def write_key_values(directory: Path, name: str, pairs: Mapping[str, object]) -> Path:
    """Write ``pairs`` to ``directory/name`` atomically (temporary file, fsync, rename)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = "".join(f"{key}={value}\n" for key, value in pairs.items())
    target = directory / name
    write_atomically(target, body)
    return target
