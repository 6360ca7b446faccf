"""What ``slurm-carbon report`` reads and writes: sacct's inputs, our columns, the JSON schema.

Inputs follow ``sacct``: times (:func:`parse_time`), states and their
abbreviations (:func:`parse_states`), job ids with array tasks
(:func:`parse_jobs`). Every parse error is a :class:`~slurm_carbon.errors.ConfigError`
with a one-line message.

Outputs: :data:`JOB_COLUMNS` / :data:`GROUP_COLUMNS` give the header and one
text field per column (:func:`job_fields`, :func:`group_fields`), shared by
``--parsable2`` and ``--csv``; the free-text job name is the last column, so a
``|`` inside it cannot shift the fields before it (split with ``maxsplit``).
``--json`` documents follow :data:`REPORT_JSON_SCHEMA`.

Units: ``*_kwh`` in kilowatt-hours (device energy before PUE, except
``facility_kwh``/``TotalkWh`` which is after PUE), ``co2e_g`` in grams CO2e,
``ci_g_per_kwh`` in gCO2e/kWh.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

from slurm_carbon.accounting import equivalents
from slurm_carbon.errors import ConfigError
from slurm_carbon.store.reports import GroupTotals, JobFigures, JobRow, JobSelector

__all__ = [
    "GROUP_COLUMNS",
    "JOB_COLUMNS",
    "JOULES_PER_KWH",
    "REPORT_JSON_SCHEMA",
    "STATE_ABBREVIATIONS",
    "equivalents_json",
    "format_elapsed",
    "grams",
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
_NOW = re.compile(r"now(?:([+-])(\d+)([a-z]*))?")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(am|pm)?")
_MMDD = re.compile(r"(\d{2})(\d{2})(\d{2})?")
_SLASHED = re.compile(r"(\d{1,2})([/.])(\d{1,2})(?:\2(\d{2}))?")
_JOB = re.compile(r"(\d+)(?:_(\d+))?")


def parse_time(text: str, now: datetime) -> datetime:
    """A time as ``sacct -S/-E`` takes it, in ``now``'s time zone.

    Accepted: ``YYYY-MM-DD[THH:MM[:SS]]``, ``MMDD[YY]``, ``MM/DD[/YY]``,
    ``MM.DD[.YY]``, ``HH:MM[:SS][AM|PM]`` (today), ``now[{+|-}N[seconds|minutes|
    hours|days|weeks]]`` (e.g. ``now-7days``; no unit means seconds), ``today``
    and ``midnight`` (00:00 today), ``noon``, ``tomorrow``.

    Raises:
        ConfigError: anything else, or a date that does not exist.
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
    except ValueError:
        found = None
    if found is None:
        raise ConfigError(
            f"invalid time {text!r} (use YYYY-MM-DD[THH:MM[:SS]], HH:MM[:SS], MM/DD[/YY],"
            " now[-N[minutes|hours|days|weeks]], today, ...)"
        )
    return found


def _relative(word: str, now: datetime) -> datetime | None:
    match = _NOW.fullmatch(word)
    if match is None:
        return None
    sign, count, unit = match.groups()
    if sign is None:
        return now
    if unit not in _UNITS_S:
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
                f"unknown job state {item.strip()!r} (known: "
                + ", ".join(f"{name} ({abbr})" for abbr, name in STATE_ABBREVIATIONS.items())
                + ")"
            )
        if state not in states:
            states.append(state)
    return tuple(states)


def parse_jobs(text: str) -> tuple[JobSelector, ...]:
    """Comma-separated job ids: ``12`` (a job, or every task of array 12), ``12_3`` (one task).

    Raises:
        ConfigError: something else than such ids.
    """
    selectors: list[JobSelector] = []
    for item in text.split(","):
        match = _JOB.fullmatch(item.strip())
        if match is None:
            raise ConfigError(f"invalid job id {item.strip()!r} (use e.g. 12, 12_3 or 12,13)")
        task = match.group(2)
        selectors.append(JobSelector(int(match.group(1)), None if task is None else int(task)))
    return tuple(selectors)


def parse_names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names (users, accounts, partitions), blanks dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


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
        row.user_name or "",
        row.account or "",
        row.partition or "",
        row.state or "",
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
    return [*head, *numbers, quality_text(figures), row.name or ""]


def group_fields(group: GroupTotals) -> list[str]:
    """One text field per :data:`GROUP_COLUMNS`."""
    return [
        group.key or "",
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
    """Everyday equivalents of ``co2e_g`` with their factors and sources (approximations)."""
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
    return item


def group_json(group: GroupTotals) -> dict[str, Any]:
    """Totals as ``totals`` or an item of ``groups`` in :data:`REPORT_JSON_SCHEMA`."""
    return {
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
        "gpu_kwh": {"type": "number", "minimum": 0},
        "cpu_kwh": {"type": "number", "minimum": 0},
        "dram_kwh": {"type": "number", "minimum": 0},
        "other_kwh": {"type": "number", "minimum": 0},
        "facility_kwh": {"type": "number", "minimum": 0},
        "co2e_g": {"type": "number", "minimum": 0},
        "waste_co2e_g": {"type": "number", "minimum": 0},
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
        " without --by, `groups` (one per job/user/account/partition) with it."
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


def grams(co2e_g: float) -> str:
    """``812.4 g`` or, from 10 kg, ``12.35 kg``."""
    return f"{co2e_g / 1000:,.2f} kg" if co2e_g >= 10_000 else f"{co2e_g:,.1f} g"


def plain(text: str) -> str:
    """Text shown as is by rich (no markup in a job name)."""
    return text.replace("[", r"\[")
