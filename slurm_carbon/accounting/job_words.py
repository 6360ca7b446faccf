"""The words of a job's comment that steer slurm_carbon beyond budgets.

``carbon_profile=NAME`` names the job's kind of work, so that a power profile
learned for one job is reused by the next of the same kind (see
``slurm_carbon.control.profiling.workload_key``); ``carbon_cap=off`` keeps the
service from ever capping the job's GPUs (``on``, the default, allows it).
``carbon_defer=12h`` lets ``job_submit.lua`` set the job's begin time to the
cleanest start within that delay (``carbon_defer=auto``: the site's default
delay, read from the advice file); ``carbon_advice=off`` turns off the hint
``job_submit.lua`` prints at sbatch when a later start would be cleaner.
``carbon_defer_resolved=43200s`` is not the user's: ``job_submit.lua`` appends it to
the comment of a ``carbon_defer=auto`` job when it resolves ``auto`` with the
advice file's ``defer_default_s``, so that the service stores the delay the lua
used (it refuses the word in a submitted comment).

``deploy/slurm/job_submit.lua`` checks the same words when a job is submitted
or modified, with the same grammar and messages (one table of cases runs
against both: ``tests/unit/slurm/test_job_words_lua.py``), as it checks the
budget words of :mod:`slurm_carbon.accounting.budget`.

The grammar:

- The comment is split into words as for budgets (spaces, tabs, line breaks,
  ``,`` and ``;``); other words are left alone.
- A word is one of ours when, in ASCII lower case, it is one of the keys
  ``carbon_profile``, ``carbon_cap``, ``carbon_defer``, ``carbon_advice``,
  ``carbon_defer_resolved`` or
  starts with one of them followed by ``=``; the key's case does not matter.
  So ``carbon_capture`` is left alone, ``carbon_cap`` alone (``carbon_cap = off``)
  is refused.
- ``carbon_profile=NAME``: NAME is 1 to :data:`MAX_PROFILE_NAME_CHARS` ASCII
  letters, digits, ``.``, ``_`` and ``-``, kept as written (case-sensitive).
- ``carbon_cap=off`` or ``carbon_cap=on``, in any case; ``carbon_advice`` alike.
- ``carbon_defer=<whole number><unit>``, unit ``m``, ``h`` or ``d`` (in any
  case), more than 0 and at most :data:`MAX_DEFER_S`; or ``carbon_defer=auto``.
- ``carbon_defer_resolved=<whole number>s`` (``s`` in any case), more than 0 and at
  most :data:`MAX_DEFER_S`.
- Each key at most once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, cast

from slurm_carbon.accounting.budget import _ASCII_LOWER, _SEPARATORS
from slurm_carbon.errors import ConfigError

__all__ = [
    "ADVICE_KEY",
    "CAP_KEY",
    "DEFER_AUTO",
    "DEFER_KEY",
    "DEFER_RESOLVED_KEY",
    "MAX_DEFER_S",
    "MAX_PROFILE_NAME_CHARS",
    "PROFILE_KEY",
    "BadJobWord",
    "JobWords",
    "parse_job_words",
]

MAX_PROFILE_NAME_CHARS = 64
"""The longest ``carbon_profile`` name: enough for ``<model>-<dataset>-b<batch>-<optimizer>``
spelled out, short enough to show in a report column and to store as a key."""

MAX_DEFER_S = 7 * 24 * 3600
"""The longest ``carbon_defer`` delay (7 days): a week holds every daily and weekly valley of
a grid's intensity, and a job held longer is more likely forgotten than cleaner."""

PROFILE_KEY = "carbon_profile"
CAP_KEY = "carbon_cap"
DEFER_KEY = "carbon_defer"
ADVICE_KEY = "carbon_advice"
DEFER_AUTO: Final = "auto"
"""``carbon_defer=auto``: the site's default delay (the advice file's ``defer_default_s``)."""
DEFER_RESOLVED_KEY = "carbon_defer_resolved"
"""The word ``job_submit.lua`` appends for ``auto``: the delay it used, in seconds."""

_PROFILE_EXAMPLE = (
    f"write e.g. {PROFILE_KEY}=resnet50-imagenet"
    f' (letters, digits, ".", "_", "-"; at most {MAX_PROFILE_NAME_CHARS} characters)'
)
_DEFER_EXAMPLE = (
    f"write e.g. {DEFER_KEY}=12h or {DEFER_KEY}={DEFER_AUTO}"
    f" (a whole number of m, h or d; more than 0, at most {MAX_DEFER_S // 86400} d)"
)
_RESOLVED_EXAMPLE = (
    f"write e.g. {DEFER_RESOLVED_KEY}=43200s (a whole number of seconds;"
    f" more than 0, at most {MAX_DEFER_S}; job_submit.lua writes it)"
)
_NAME = re.compile(r"[A-Za-z0-9._-]*")
_DEFER_UNIT_S = {"m": 60, "h": 3600, "d": 86400}


class BadJobWord(ConfigError):
    """A ``carbon_profile=`` or ``carbon_cap=`` word of a comment is malformed or repeated.

    Its message is the line ``job_submit.lua`` shows the user, without the
    ``slurm_carbon: `` prefix.
    """


@dataclass(frozen=True)
class JobWords:
    """What a comment's words say.

    Attributes:
        profile: The ``carbon_profile`` name; None when the comment gives none.
        cap: False when the comment says ``carbon_cap=off``: never cap this job.
        defer_s: The ``carbon_defer`` delay in seconds, :data:`DEFER_AUTO` for the site's
            default, None when the comment asks for no deferral. Units: s.
        advice: False when the comment says ``carbon_advice=off``: no hint at sbatch.
        defer_resolved_s: The delay ``job_submit.lua`` resolved ``auto`` to (its
            ``carbon_defer_resolved`` word), None without one. Units: s.
    """

    profile: str | None = None
    cap: bool = True
    defer_s: int | Literal["auto"] | None = None
    advice: bool = True
    defer_resolved_s: int | None = None


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


def _switch(word: str, key: str) -> bool:
    value = word[len(key) + 1 :].translate(_ASCII_LOWER)
    if not word[len(key) :].startswith("=") or value not in ("off", "on"):
        raise BadJobWord(f'bad {key} "{word}": not {key}=off or on; {_switch_example(key)}')
    return value == "on"


def _switch_example(key: str) -> str:
    return f"write e.g. {key}=off (off or on)"


def _defer(word: str) -> int | Literal["auto"]:
    given = word[len(DEFER_KEY) :].startswith("=")
    value = word[len(DEFER_KEY) + 1 :].translate(_ASCII_LOWER)
    if given and value == DEFER_AUTO:
        return DEFER_AUTO
    unit = value.lstrip("0123456789")
    number = value[: len(value) - len(unit)]
    reason = None
    if not given:
        reason = f"not {DEFER_KEY}=<number><unit> or {DEFER_KEY}={DEFER_AUTO}"
    elif number == "":
        reason = "no number"
    elif unit == "":
        reason = "no unit"
    elif unit not in _DEFER_UNIT_S:
        reason = f'unknown unit "{unit}"'
    elif int(number) == 0:
        reason = "not more than zero"
    elif int(number) * _DEFER_UNIT_S[unit] > MAX_DEFER_S:
        reason = f"more than {MAX_DEFER_S // 86400} d"
    if reason is not None:
        raise BadJobWord(f'bad {DEFER_KEY} "{word}": {reason}; {_DEFER_EXAMPLE}')
    return int(number) * _DEFER_UNIT_S[unit]


def _resolved(word: str) -> int:
    given = word[len(DEFER_RESOLVED_KEY) :].startswith("=")
    value = word[len(DEFER_RESOLVED_KEY) + 1 :].translate(_ASCII_LOWER)
    number = value.removesuffix("s")
    reason = None
    if not given or not value.endswith("s") or not number.isascii() or not number.isdigit():
        reason = f"not {DEFER_RESOLVED_KEY}=<seconds>s"
    elif int(number) == 0:
        reason = "not more than zero"
    elif int(number) > MAX_DEFER_S:
        reason = f"more than {MAX_DEFER_S} s"
    if reason is not None:
        raise BadJobWord(f'bad {DEFER_RESOLVED_KEY} "{word}": {reason}; {_RESOLVED_EXAMPLE}')
    return int(number)


_READERS: dict[str, tuple[Callable[[str], object], str]] = {
    PROFILE_KEY: (_profile, _PROFILE_EXAMPLE),
    CAP_KEY: (lambda word: _switch(word, CAP_KEY), _switch_example(CAP_KEY)),
    DEFER_KEY: (_defer, _DEFER_EXAMPLE),
    ADVICE_KEY: (lambda word: _switch(word, ADVICE_KEY), _switch_example(ADVICE_KEY)),
    DEFER_RESOLVED_KEY: (_resolved, _RESOLVED_EXAMPLE),
}


def parse_job_words(comment: str | None) -> JobWords:
    """The words of a job's comment (see the module's grammar).

    Raises:
        BadJobWord: a ``carbon_profile``/``carbon_cap``/``carbon_defer``/``carbon_advice``/
            ``carbon_defer_resolved`` word is malformed or repeated.
    """
    found: dict[str, object] = {}
    for word in _SEPARATORS.split(comment or ""):
        lowered = word.translate(_ASCII_LOWER)
        for key, (read, example) in _READERS.items():
            if _ours(lowered, key):
                value = read(word)
                if key in found:
                    raise BadJobWord(f'bad {key} "{word}": given twice; {example}')
                found[key] = value
    return JobWords(
        profile=cast("str | None", found.get(PROFILE_KEY)),
        cap=found.get(CAP_KEY) is not False,
        defer_s=cast("int | Literal['auto'] | None", found.get(DEFER_KEY)),
        advice=found.get(ADVICE_KEY) is not False,
        defer_resolved_s=cast("int | None", found.get(DEFER_RESOLVED_KEY)),
    )
