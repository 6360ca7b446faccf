"""The power-capping words of a job's comment: ``carbon_profile=NAME`` and ``carbon_cap=off``.

``carbon_profile=NAME`` names the job's kind of work, so that a power profile
learned for one job is reused by the next of the same kind (see
``slurm_carbon.control.profiling.workload_key``); ``carbon_cap=off`` keeps the
service from ever capping the job's GPUs (``on``, the default, allows it).

``deploy/slurm/job_submit.lua`` checks the same words when a job is submitted
or modified, with the same grammar and messages (one table of cases runs
against both: ``tests/unit/slurm/test_job_words_lua.py``), as it checks the
budget words of :mod:`slurm_carbon.accounting.budget`.

The grammar:

- The comment is split into words as for budgets (spaces, tabs, line breaks,
  ``,`` and ``;``); other words are left alone.
- A word is one of ours when, in ASCII lower case, it is ``carbon_profile`` or
  ``carbon_cap`` or starts with one of them followed by ``=``; the key's case
  does not matter. So ``carbon_capture`` is left alone, ``carbon_cap`` alone
  (``carbon_cap = off``) is refused.
- ``carbon_profile=NAME``: NAME is 1 to :data:`MAX_PROFILE_NAME_CHARS` ASCII
  letters, digits, ``.``, ``_`` and ``-``, kept as written (case-sensitive).
- ``carbon_cap=off`` or ``carbon_cap=on``, in any case.
- Each key at most once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from slurm_carbon.accounting.budget import _ASCII_LOWER, _SEPARATORS
from slurm_carbon.errors import ConfigError

__all__ = [
    "CAP_KEY",
    "MAX_PROFILE_NAME_CHARS",
    "PROFILE_KEY",
    "BadJobWord",
    "JobWords",
    "parse_job_words",
]

MAX_PROFILE_NAME_CHARS = 64
"""The longest ``carbon_profile`` name: enough for ``<model>-<dataset>-b<batch>-<optimizer>``
spelled out, short enough to show in a report column and to store as a key."""

PROFILE_KEY = "carbon_profile"
CAP_KEY = "carbon_cap"

_PROFILE_EXAMPLE = (
    f"write e.g. {PROFILE_KEY}=resnet50-imagenet"
    f' (letters, digits, ".", "_", "-"; at most {MAX_PROFILE_NAME_CHARS} characters)'
)
_CAP_EXAMPLE = f"write e.g. {CAP_KEY}=off (off or on)"
_NAME = re.compile(r"[A-Za-z0-9._-]*")


class BadJobWord(ConfigError):
    """A ``carbon_profile=`` or ``carbon_cap=`` word of a comment is malformed or repeated.

    Its message is the line ``job_submit.lua`` shows the user, without the
    ``slurm_carbon: `` prefix.
    """


@dataclass(frozen=True)
class JobWords:
    """What a comment's capping words say.

    Attributes:
        profile: The ``carbon_profile`` name; None when the comment gives none.
        cap: False when the comment says ``carbon_cap=off``: never cap this job.
    """

    profile: str | None = None
    cap: bool = True


def _ours(lowered: str, key: str) -> bool:
    return lowered == key or lowered.startswith(f"{key}=")


def _profile(word: str) -> str:
    name = word[len(PROFILE_KEY) + 1 :]
    reason = None
    if not word[len(PROFILE_KEY) :].startswith("="):
        reason = f"not {PROFILE_KEY}=<name>"
    elif name == "":
        reason = "no name"
    elif _NAME.fullmatch(name) is None:
        reason = 'not only letters, digits, ".", "_", "-"'
    elif len(name) > MAX_PROFILE_NAME_CHARS:
        reason = f"more than {MAX_PROFILE_NAME_CHARS} characters"
    if reason is not None:
        raise BadJobWord(f'bad {PROFILE_KEY} "{word}": {reason}; {_PROFILE_EXAMPLE}')
    return name


def _cap(word: str) -> bool:
    value = word[len(CAP_KEY) + 1 :].translate(_ASCII_LOWER)
    if not word[len(CAP_KEY) :].startswith("=") or value not in ("off", "on"):
        raise BadJobWord(f'bad {CAP_KEY} "{word}": not {CAP_KEY}=off or on; {_CAP_EXAMPLE}')
    return value == "on"


def parse_job_words(comment: str | None) -> JobWords:
    """The capping words of a job's comment (see the module's grammar).

    Raises:
        BadJobWord: a ``carbon_profile``/``carbon_cap`` word is malformed or repeated.
    """
    profile: str | None = None
    cap: bool | None = None
    for word in _SEPARATORS.split(comment or ""):
        lowered = word.translate(_ASCII_LOWER)
        if _ours(lowered, PROFILE_KEY):
            name = _profile(word)
            if profile is not None:
                raise BadJobWord(f'bad {PROFILE_KEY} "{word}": given twice; {_PROFILE_EXAMPLE}')
            profile = name
        elif _ours(lowered, CAP_KEY):
            allowed = _cap(word)
            if cap is not None:
                raise BadJobWord(f'bad {CAP_KEY} "{word}": given twice; {_CAP_EXAMPLE}')
            cap = allowed
    return JobWords(profile=profile, cap=cap is not False)
