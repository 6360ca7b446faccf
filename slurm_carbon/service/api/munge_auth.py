"""Who is asking: the caller's uid and gid from a MUNGE credential, as ``slurmrestd`` does.

The client sends ``Authorization: MUNGE <credential>``, a credential made by its
node's ``munged`` (``munge -n``). The service hands it to ``unmunge`` (on stdin,
no shell, with a deadline), which asks the local ``munged`` to decode it; munged
refuses a credential that is forged, expired, rewound or seen before (replayed),
so each credential opens one request. Only a credential that decodes with status
0 names a uid: on any refusal unmunge still prints the credential's claimed uid,
which is never read.

There is no maintained MUNGE binding for Python on PyPI, hence the command.
Refusals are :class:`~slurm_carbon.service.ingest.ApiError` 401 with one
sentence; a ``munged`` that cannot be reached is 503 (the client may retry).
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request

from slurm_carbon.service.ingest import ApiError
from slurm_carbon.text import escape_control

__all__ = [
    "MAX_CREDENTIAL_BYTES",
    "UNMUNGE_TIMEOUT_S",
    "MungeDecoder",
    "MungeIdentity",
    "Unauthenticated",
    "UnmungeRunner",
    "munge_credential",
    "run_unmunge",
]

logger = logging.getLogger(__name__)

# `munge -n` makes a credential of about 140 bytes (no payload, sha256 MAC);
# 4 KiB leaves room for stronger ciphers and MACs and a small payload, and keeps
# whatever a client sends from costing the service more than a page.
MAX_CREDENTIAL_BYTES = 4096
# munged decodes a credential in about a millisecond on its own host; a munged
# that has not answered in 5 s is stuck, and a request must not hold a worker
# thread longer than a client would wait.
UNMUNGE_TIMEOUT_S = 5.0

# The armour `munge` writes: "MUNGE:", base64, ":".
_CREDENTIAL = re.compile(r"MUNGE:[A-Za-z0-9+/]+=*:")
# unmunge's exit status is MUNGE's error code (munge.h, munge_err_t).
_EXPIRED, _REWOUND, _REPLAYED = 15, 16, 17
# Errors of the local machinery, not of the credential: snafu, no memory,
# munged's socket cannot be reached, munged did not answer.
_UNAVAILABLE = frozenset({1, 5, 6, 7})
_REFUSALS = {
    _EXPIRED: "the MUNGE credential has expired: make a new one with `munge -n`",
    _REWOUND: "the MUNGE credential was made in the future: check the clocks",
    _REPLAYED: "the MUNGE credential was already used: make a new one for each request",
}
_INVALID = "the MUNGE credential is not valid here (forged, damaged, or from another MUNGE key)"

UnmungeRunner = Callable[[Sequence[str], bytes, float], tuple[int, str]]
"""Runs ``unmunge``: ``(argv, stdin, timeout_s) -> (exit status, stdout)``.

Raises :class:`OSError` when the command cannot run, :class:`TimeoutError`
after ``timeout_s``.
"""


def run_unmunge(argv: Sequence[str], stdin: bytes, timeout_s: float) -> tuple[int, str]:
    """The real :data:`UnmungeRunner`: :func:`subprocess.run`, no shell. Units: seconds."""
    try:
        proc = subprocess.run(
            list(argv), input=stdin, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise TimeoutError(f"{argv[0]}: no answer after {timeout_s:g} s") from err
    return proc.returncode, proc.stdout.decode("ascii", "replace")


class Unauthenticated(ApiError):
    """401: no MUNGE credential, or one that does not say who is asking.

    Its answer's ``WWW-Authenticate`` names the MUNGE scheme (node routes name Bearer).
    """

    challenge = "MUNGE"

    def __init__(self, message: str) -> None:
        super().__init__(401, message)


@dataclass(frozen=True)
class MungeIdentity:
    """Who made a credential, as the decoding munged vouches."""

    uid: int
    gid: int


def munge_credential(request: Request) -> str:
    """The request's MUNGE credential, from its headers alone, or 401.

    A node's bearer token is refused here in words of its own: tokens only write.
    """
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        raise Unauthenticated("node tokens cannot read: send Authorization: MUNGE <credential>")
    if scheme.lower() != "munge" or not credential.strip():
        raise Unauthenticated(
            "missing MUNGE credential: send Authorization: MUNGE <output of munge -n>"
        )
    credential = credential.strip()
    if len(credential) > MAX_CREDENTIAL_BYTES:
        raise Unauthenticated(f"the MUNGE credential is over {MAX_CREDENTIAL_BYTES} bytes")
    if not _CREDENTIAL.fullmatch(credential):
        raise Unauthenticated("the MUNGE credential is malformed (expected MUNGE:<base64>:)")
    return credential


@dataclass(frozen=True)
class MungeDecoder:
    """Decodes credentials with ``unmunge`` against a ``munged``.

    Attributes:
        socket: munged's socket (None: unmunge's default, the system munged).
        runner: What runs unmunge (tests inject recorded answers).
        timeout_s: How long unmunge may take. Units: seconds.
    """

    socket: Path | None = None
    runner: UnmungeRunner = field(default=run_unmunge)
    timeout_s: float = UNMUNGE_TIMEOUT_S

    def decode(self, credential: str) -> MungeIdentity:
        """The uid and gid that ``credential`` carries; blocking (run it in a worker thread).

        Raises:
            ApiError: 401 for a credential munged refuses, 503 when munged cannot be asked.
        """
        argv = [
            "unmunge",
            "--numeric",
            "--keys=STATUS,UID,GID",
            "--metadata=-",
            "--output=/dev/null",
        ]
        if self.socket is not None:
            argv.append(f"--socket={self.socket}")
        try:
            status, out = self.runner(argv, credential.encode("ascii") + b"\n", self.timeout_s)
        except (OSError, TimeoutError) as err:
            logger.warning("cannot run unmunge: %s", escape_control(str(err)))
            raise ApiError(503, "cannot check MUNGE credentials now, retry later") from None
        if status in _UNAVAILABLE:
            logger.warning("unmunge failed with status %d: is munged running?", status)
            raise ApiError(503, "cannot check MUNGE credentials now, retry later")
        if status != 0:
            raise Unauthenticated(_REFUSALS.get(status, _INVALID))
        return _identity(out)


def _identity(out: str) -> MungeIdentity:
    """The uid and gid of unmunge's metadata (``KEY: value`` lines, numeric)."""
    values = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    if values.get("STATUS") != "0" or not all(
        values.get(key, "").isdigit() for key in ("UID", "GID")
    ):
        logger.warning("unexpected unmunge output: %s", escape_control(out[:200]))
        raise Unauthenticated(_INVALID)
    return MungeIdentity(uid=int(values["UID"]), gid=int(values["GID"]))
