"""What ``slurm-carbon report`` reads and writes: sacct's inputs, our columns, the JSON schema.

Inputs follow ``sacct``: times (:func:`parse_time`), states and their
abbreviations (:func:`parse_states`), job ids with array tasks
(:func:`parse_jobs`). Every parse error is a :class:`~slurm_carbon.errors.ConfigError`
with a one-line message.

Outputs: :data:`JOB_COLUMNS` / :data:`GROUP_COLUMNS` give the header and one
text field per column (:func:`job_fields`, :func:`group_fields`), shared by
``--parsable2`` and ``--csv``: exact numbers in fixed units, for machines; the
free-text job name is the last column, so a ``|`` inside it cannot shift the
fields before it (split with ``maxsplit``). Text from outside (job, user,
account, partition names) has its control characters escaped
(:func:`~slurm_carbon.text.escape_control`) in every output but JSON, whose own
escaping is safe. ``--json`` documents follow :data:`REPORT_JSON_SCHEMA`; a
figure that is not finite (a corrupt stored value) is ``null`` there and named
in the item's ``non_finite`` list.

Units: ``*_kwh`` in kilowatt-hours (device energy before PUE, except
``facility_kwh``/``TotalkWh`` which is after PUE), ``co2e_g`` in grams CO2e,
``ci_g_per_kwh`` in gCO2e/kWh.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

from slurm_carbon.accounting import equivalents
from slurm_carbon.cli.params import SLURM_ID_MAX
from slurm_carbon.errors import ConfigError
from slurm_carbon.store.reports import GroupTotals, JobFigures, JobRow, JobSelector
from slurm_carbon.text import escape_control, has_control

__all__ = [
    "GROUP_COLUMNS",
    "JOB_COLUMNS",
    "JOULES_PER_KWH",
    "REPORT_JSON_SCHEMA",
    "STATE_ABBREVIATIONS",
    "equivalents_json",
    "format_elapsed",
    "group_fields",
    "group_json",
    "job_fields",
    "job_json",
    "parse_jobs",
    "parse_names",
    "parse_states",
    "parse_time",
    "plain",
    "quality_text",
]

JOULES_PER_KWH = 3_600_000.0

TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
"""Earliest -S/-E accepted: Slurm records times as Unix epoch seconds."""

TIME_MAX = datetime(9999, 1, 1, tzinfo=UTC)
"""Latest -S/-E accepted: a year's margin below Python's and the databases' year 9999, so that
any local time converts to UTC (``-E 9999-12-31`` is refused; ``-E 9998-12-31`` means "ever")."""

LIST_MAX = 10_000
"""Most items of one -j/-u/-A/-r list: each is a query parameter, and SQLite allows 32,766 and
PostgreSQL 65,535 in one statement (a job id with an array task takes two)."""

# sacct's job states and their abbreviations (sacct(1), "JOB STATE CODES").
STATE_ABBREVIATIONS = {
    "BF": "BOOT_FAIL",
    "CA": "CANCELLED",
    "CD": "COMPLETED",
    "DL": "DEADLINE",
    "F": "FAILED",
    "NF": "NODE_FAIL",
    "OOM": "OUT_OF_MEMORY",
    "PD": "PENDING",
    "PR": "PREEMPTED",
    "R": "RUNNING",
    "RQ": "REQUEUED",
    "RS": "RESIZING",
    "RV": "REVOKED",
    "S": "SUSPENDED",
    "TO": "TIMEOUT",
}

JOB_COLUMNS = (
    "JobID",
    "User",
    "Account",
    "Partition",
    "State",
    "Elapsed",
    "GPUs",
    "GPUkWh",
    "CPUkWh",
    "DRAMkWh",
    "OtherkWh",
    "TotalkWh",
    "gCO2e",
    "CIgPerkWh",
    "PUE",
    "Quality",
    "JobName",
)
"""Columns of a job line; ``OtherkWh`` is the job's share of its nodes' unmeasured parts
(a configured fixed power, an estimate); ``TotalkWh`` is facility energy (after PUE);
JobName is last."""

GROUP_COLUMNS = (
    "Group",
    "Jobs",
    "Pending",
    "Estimated",
    "GPUkWh",
    "CPUkWh",
    "DRAMkWh",
    "OtherkWh",
    "TotalkWh",
    "gCO2e",
    "WastegCO2e",
)
"""Columns of a ``--by`` line; ``Group`` is the job id, user, account or partition."""

_UNITS_S = {
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
# ASCII digits only: int() would read other scripts' digits ("١٢" as 12).
_NOW = re.compile(r"now(?:([+-])(\d+)([a-z]*))?", re.ASCII)
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.ASCII)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(am|pm)?", re.ASCII)
_MMDD = re.compile(r"(\d{2})(\d{2})(\d{2})?", re.ASCII)
_SLASHED = re.compile(r"(\d{1,2})([/.])(\d{1,2})(?:\2(\d{2}))?", re.ASCII)
_JOB = re.compile(r"(\d{1,10})(?:_(\d{1,10}))?", re.ASCII)
# More digits than any offset within TIME_MIN .. TIME_MAX in seconds could need (12).
_MAX_OFFSET_DIGITS = 12


def parse_time(text: str, now: datetime) -> datetime:
    """A time as ``sacct -S/-E`` takes it, in ``now``'s time zone.

    Accepted: ``YYYY-MM-DD[THH:MM[:SS]]``, ``MMDD[YY]``, ``MM/DD[/YY]``,
    ``MM.DD[.YY]``, ``HH:MM[:SS][AM|PM]`` (today), ``now[{+|-}N[seconds|minutes|
    hours|days|weeks]]`` (e.g. ``now-7days``; no unit means seconds), ``today``
    and ``midnight`` (00:00 today), ``noon``, ``tomorrow``.

    Raises:
        ConfigError: anything else, a date that does not exist, or a time outside
            :data:`TIME_MIN` .. :data:`TIME_MAX`.
    """
    word = text.strip().lower()
    midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
    named = {
        "today": midnight,
        "midnight": midnight,
        "noon": midnight + timedelta(hours=12),
        "tomorrow": midnight + timedelta(days=1),
    }
    try:
        found = named.get(word) or _relative(word, now) or _absolute(word, now, midnight)
    except ValueError:  # a date that does not exist
        found = None
    except OverflowError:  # now +- N beyond what a datetime holds
        found = TIME_MAX
    if found is None:
        raise ConfigError(
            f"invalid time {_shown(text)} (use YYYY-MM-DD[THH:MM[:SS]], HH:MM[:SS], MM/DD[/YY],"
            " now[-N[minutes|hours|days|weeks]], today, ...)"
        )
    if not TIME_MIN <= found < TIME_MAX:
        raise ConfigError(
            f"time {_shown(text)} is out of range ({TIME_MIN:%Y-%m-%d} to {TIME_MAX:%Y-%m-%d})"
        )
    return found


#: Characters of a bad value quoted in an error message; the rest is cut.
_SHOWN_MAX = 60


def _shown(text: str) -> str:
    """A bad input quoted for an error message: escaped, and cut if long."""
    cut = text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."
    return f"'{escape_control(cut)}'"


def _relative(word: str, now: datetime) -> datetime | None:
    match = _NOW.fullmatch(word)
    if match is None:
        return None
    sign, count, unit = match.groups()
    if sign is None:
        return now
    if unit not in _UNITS_S or len(count) > _MAX_OFFSET_DIGITS:
        return None
    delta = timedelta(seconds=int(count) * _UNITS_S[unit])
    return now + delta if sign == "+" else now - delta


def _absolute(word: str, now: datetime, midnight: datetime) -> datetime | None:
    """A date or clock time; ValueError for a date that does not exist."""
    if match := _ISO.fullmatch(word):
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=now.tzinfo)
    if match := _CLOCK.fullmatch(word):
        hour, minute, second = (int(g) if g else 0 for g in match.groups()[:3])
        meridian = match.group(4)
        if meridian is not None:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if meridian == "pm" else 0)
        return midnight.replace(hour=hour, minute=minute, second=second)
    if match := _MMDD.fullmatch(word):
        month, day = int(match.group(1)), int(match.group(2))
        year = 2000 + int(match.group(3)) if match.group(3) else now.year
        return datetime(year, month, day, tzinfo=now.tzinfo)
    if match := _SLASHED.fullmatch(word):
        month, day = int(match.group(1)), int(match.group(3))
        year = 2000 + int(match.group(4)) if match.group(4) else now.year
        return datetime(year, month, day, tzinfo=now.tzinfo)
    return None


def parse_states(text: str) -> tuple[str, ...]:
    """Comma-separated states or their abbreviations (``CD,F,oom``) as Slurm's words.

    Raises:
        ConfigError: an unknown state.
    """
    known = set(STATE_ABBREVIATIONS.values())
    states: list[str] = []
    for item in text.split(","):
        word = item.strip().upper()
        state = STATE_ABBREVIATIONS.get(word, word)
        if state not in known:
            raise ConfigError(
                f"unknown job state {_shown(item.strip())} (known: "
                + ", ".join(f"{name} ({abbr})" for abbr, name in STATE_ABBREVIATIONS.items())
                + ")"
            )
        if state not in states:
            states.append(state)
    return tuple(states)


def parse_jobs(text: str) -> tuple[JobSelector, ...]:
    """Comma-separated job ids: ``12`` (a job, or every task of array 12), ``12_3`` (one task).

    Raises:
        ConfigError: something else than such ids, an id (or task) above Slurm's uint32
            (:data:`~slurm_carbon.cli.params.SLURM_ID_MAX`, which the store's BIGINT holds),
            or more than :data:`LIST_MAX` of them.
    """
    items = _items(text, "job id")
    selectors: list[JobSelector] = []
    for item in items:
        match = _JOB.fullmatch(item)
        if match is None:
            raise ConfigError(f"invalid job id {_shown(item)} (use e.g. 12, 12_3 or 12,13)")
        job, task = int(match.group(1)), None if match.group(2) is None else int(match.group(2))
        if job > SLURM_ID_MAX or (task is not None and task > SLURM_ID_MAX):
            raise ConfigError(
                f"job id {_shown(item)} is out of Slurm's range (0 to {SLURM_ID_MAX})"
            )
        selectors.append(JobSelector(job, task))
    return tuple(selectors)


def parse_names(text: str, what: str = "name") -> tuple[str, ...]:
    """A comma-separated list of names (users, accounts, partitions), blanks around them dropped.

    Raises:
        ConfigError: no name at all, a name with a control character, or more than
            :data:`LIST_MAX` names.
    """
    names = _items(text, what)
    for name in names:
        if has_control(name):
            raise ConfigError(f"invalid {what} {_shown(name)}: control characters")
    return names


def _items(text: str, what: str) -> tuple[str, ...]:
    """The non-blank items of a comma-separated list, at least one and at most LIST_MAX."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise ConfigError(f"no {what} given in {_shown(text)}")
    if len(items) > LIST_MAX:
        raise ConfigError(f"{len(items):,} {what}s given; at most {LIST_MAX:,} at once")
    return items


def format_elapsed(elapsed: timedelta | None) -> str:
    """The elapsed time as sacct prints it, ``[D-]HH:MM:SS``; empty when unknown."""
    if elapsed is None:
        return ""
    total = max(0, int(elapsed.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}-{clock}" if days else clock


def quality_text(figures: JobFigures | None) -> str:
    """``counter``, ``integrated`` or ``estimated``, plus ``+annual-ci``; ``pending`` without."""
    if figures is None:
        return "pending"
    return figures.quality + ("+annual-ci" if figures.annual_ci else "")


def _kwh(energy_j: float) -> str:
    return f"{energy_j / JOULES_PER_KWH:.6f}"


def job_fields(row: JobRow) -> list[str]:
    """One text field per :data:`JOB_COLUMNS`; a pending job's figures are empty."""
    figures = row.figures
    head = [
        row.job_id_text,
        escape_control(row.user_name or ""),
        escape_control(row.account or ""),
        escape_control(row.partition or ""),
        escape_control(row.state or ""),
        format_elapsed(row.elapsed),
        str(row.requested_gpus),
    ]
    if figures is None:
        numbers = [""] * 8
    else:
        ci = figures.ci_mean_g_per_kwh
        numbers = [
            _kwh(figures.gpu_energy_j),
            _kwh(figures.cpu_energy_j),
            _kwh(figures.dram_energy_j),
            _kwh(figures.other_energy_j),
            _kwh(figures.facility_energy_j),
            f"{figures.co2e_g:.3f}",
            "" if ci is None else f"{ci:.1f}",
            f"{figures.pue:.3f}",
        ]
    return [*head, *numbers, quality_text(figures), escape_control(row.name or "")]


def group_fields(group: GroupTotals) -> list[str]:
    """One text field per :data:`GROUP_COLUMNS`."""
    return [
        escape_control(group.key or ""),
        str(group.jobs),
        str(group.pending_jobs),
        str(group.estimated_jobs),
        _kwh(group.gpu_energy_j),
        _kwh(group.cpu_energy_j),
        _kwh(group.dram_energy_j),
        _kwh(group.other_energy_j),
        _kwh(group.facility_energy_j),
        f"{group.co2e_g:.3f}",
        f"{group.waste_co2e_g:.3f}",
    ]


def equivalents_json(co2e_g: float) -> list[dict[str, Any]]:
    """Everyday equivalents of ``co2e_g`` with their factors and sources (approximations).

    None for emissions that are not finite (a corrupt stored value).
    """
    if not math.isfinite(co2e_g):
        return []
    return [
        {
            "name": eq.name,
            "description": eq.description,
            "quantity": eq.quantity,
            "factor_g": eq.factor_g,
            "source": eq.source,
        }
        for eq in equivalents(co2e_g)
    ]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _finite(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with each infinite or NaN number made null and named in ``non_finite``.

    PostgreSQL stores ``inf`` and ``NaN``; JSON has no such numbers.
    """
    bad = sorted(
        key for key, value in item.items() if isinstance(value, float) and not math.isfinite(value)
    )
    if not bad:
        return item
    return {**item, **dict.fromkeys(bad), "non_finite": bad}


def job_json(row: JobRow) -> dict[str, Any]:
    """A job as an item of ``jobs`` in :data:`REPORT_JSON_SCHEMA`."""
    figures = row.figures
    elapsed = row.elapsed
    item: dict[str, Any] = {
        "job_id": row.job_id_text,
        "user": row.user_name,
        "account": row.account,
        "partition": row.partition,
        "state": row.state,
        "start": _iso(row.start_time),
        "end": _iso(row.end_time),
        "elapsed_s": None if elapsed is None else int(elapsed.total_seconds()),
        "gpus": row.requested_gpus,
        "pending": figures is None,
        "waste": row.waste,
        "quality": quality_text(figures),
        "estimate": figures is not None and figures.estimated,
        "name": row.name,
    }
    if figures is None:
        item.update(dict.fromkeys(_FIGURE_KEYS))
    else:
        item.update(
            gpu_kwh=figures.gpu_energy_j / JOULES_PER_KWH,
            cpu_kwh=figures.cpu_energy_j / JOULES_PER_KWH,
            dram_kwh=figures.dram_energy_j / JOULES_PER_KWH,
            other_kwh=figures.other_energy_j / JOULES_PER_KWH,
            facility_kwh=figures.facility_energy_j / JOULES_PER_KWH,
            co2e_g=figures.co2e_g,
            ci_g_per_kwh=figures.ci_mean_g_per_kwh,
            ci_region=figures.ci_region,
            ci_source=figures.ci_source,
            pue=figures.pue,
        )
    return _finite(item)


def group_json(group: GroupTotals) -> dict[str, Any]:
    """Totals as ``totals`` or an item of ``groups`` in :data:`REPORT_JSON_SCHEMA`."""
    return _finite(
        {
            "key": group.key,
            "jobs": group.jobs,
            "pending_jobs": group.pending_jobs,
            "estimated_jobs": group.estimated_jobs,
            "gpu_kwh": group.gpu_energy_j / JOULES_PER_KWH,
            "cpu_kwh": group.cpu_energy_j / JOULES_PER_KWH,
            "dram_kwh": group.dram_energy_j / JOULES_PER_KWH,
            "other_kwh": group.other_energy_j / JOULES_PER_KWH,
            "facility_kwh": group.facility_energy_j / JOULES_PER_KWH,
            "co2e_g": group.co2e_g,
            "waste_co2e_g": group.waste_co2e_g,
        }
    )


_FIGURE_KEYS = (
    "gpu_kwh",
    "cpu_kwh",
    "dram_kwh",
    "other_kwh",
    "facility_kwh",
    "co2e_g",
    "ci_g_per_kwh",
    "ci_region",
    "ci_source",
    "pue",
)
_NUMBER_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_STRING_OR_NULL = {"type": ["string", "null"]}
_NON_FINITE = {
    "description": "Figures that were not finite in the store (shown as null); absent when none.",
    "type": "array",
    "items": {"type": "string"},
    "minItems": 1,
}
_TOTALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "key",
        "jobs",
        "pending_jobs",
        "estimated_jobs",
        "gpu_kwh",
        "cpu_kwh",
        "dram_kwh",
        "other_kwh",
        "facility_kwh",
        "co2e_g",
        "waste_co2e_g",
    ],
    "additionalProperties": False,
    "properties": {
        "key": _STRING_OR_NULL,
        "jobs": {"type": "integer", "minimum": 0},
        "pending_jobs": {"type": "integer", "minimum": 0},
        "estimated_jobs": {"type": "integer", "minimum": 0},
        "gpu_kwh": _NUMBER_OR_NULL,
        "cpu_kwh": _NUMBER_OR_NULL,
        "dram_kwh": _NUMBER_OR_NULL,
        "other_kwh": _NUMBER_OR_NULL,
        "facility_kwh": _NUMBER_OR_NULL,
        "co2e_g": _NUMBER_OR_NULL,
        "waste_co2e_g": _NUMBER_OR_NULL,
        "non_finite": _NON_FINITE,
    },
}

REPORT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "slurm-carbon report",
    "description": (
        "Output of `slurm-carbon report --json`. kWh: *_kwh at the devices before PUE,"
        " facility_kwh after PUE; co2e_g in grams CO2e after PUE; a pending job (no"
        " result yet) has null figures and quality 'pending'; waste: the job ended"
        " FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY or NODE_FAIL. `jobs` is given"
        " without --by, `groups` (one per job/user/account/partition) with it. A figure"
        " that is not finite in the store is null and named in `non_finite`."
    ),
    "type": "object",
    "required": ["schema_version", "generated_at", "window", "totals", "equivalents"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": 1},
        "generated_at": {"type": "string", "format": "date-time"},
        "window": {
            "type": "object",
            "required": ["start", "end"],
            "additionalProperties": False,
            "properties": {"start": _STRING_OR_NULL, "end": _STRING_OR_NULL},
        },
        "by": {"enum": ["job", "user", "account", "partition"]},
        "jobs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "job_id",
                    "user",
                    "account",
                    "partition",
                    "state",
                    "start",
                    "end",
                    "elapsed_s",
                    "gpus",
                    "pending",
                    "waste",
                    "quality",
                    "estimate",
                    "name",
                    *_FIGURE_KEYS,
                ],
                "additionalProperties": False,
                "properties": {
                    "job_id": {"type": "string", "pattern": r"^\d+(_\d+)?$"},
                    "user": _STRING_OR_NULL,
                    "account": _STRING_OR_NULL,
                    "partition": _STRING_OR_NULL,
                    "state": _STRING_OR_NULL,
                    "start": _STRING_OR_NULL,
                    "end": _STRING_OR_NULL,
                    "elapsed_s": {"type": ["integer", "null"], "minimum": 0},
                    "gpus": {"type": "integer", "minimum": 0},
                    "pending": {"type": "boolean"},
                    "waste": {"type": "boolean"},
                    "quality": {
                        "type": "string",
                        "pattern": r"^(pending|(counter|integrated|estimated)(\+annual-ci)?)$",
                    },
                    "estimate": {"type": "boolean"},
                    "name": _STRING_OR_NULL,
                    "gpu_kwh": _NUMBER_OR_NULL,
                    "cpu_kwh": _NUMBER_OR_NULL,
                    "dram_kwh": _NUMBER_OR_NULL,
                    "other_kwh": _NUMBER_OR_NULL,
                    "facility_kwh": _NUMBER_OR_NULL,
                    "co2e_g": _NUMBER_OR_NULL,
                    "ci_g_per_kwh": _NUMBER_OR_NULL,
                    "ci_region": _STRING_OR_NULL,
                    "ci_source": _STRING_OR_NULL,
                    "pue": {"type": ["number", "null"], "minimum": 1},
                    "non_finite": _NON_FINITE,
                },
            },
        },
        "groups": {"type": "array", "items": _TOTALS_SCHEMA},
        "totals": _TOTALS_SCHEMA,
        "equivalents": {
            "description": "Everyday equivalents of totals.co2e_g (approximations).",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "description", "quantity", "factor_g", "source"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "quantity": {"type": "number", "minimum": 0},
                    "factor_g": {"type": "number", "exclusiveMinimum": 0},
                    "source": {"type": "string"},
                },
            },
        },
    },
}
"""JSON Schema (draft 2020-12) of ``slurm-carbon report --json``."""


def plain(text: str) -> str:
    """Outside text shown as is by rich: control characters escaped, no markup in a job name."""
    return escape_control(text).replace("[", r"\[")
