"""What ``slurm-carbon report`` reads and writes as text: job and name lists, our columns.

Inputs: job ids with array tasks (:func:`parse_jobs`) and names
(:func:`parse_names`); Slurm's times and states are parsed by
:mod:`slurm_carbon.slurm.times` and :mod:`slurm_carbon.slurm.states`. Every
parse error is a :class:`~slurm_carbon.errors.ConfigError` with a one-line message.

Outputs: :data:`JOB_COLUMNS` / :data:`GROUP_COLUMNS` give the header and one
text field per column (:func:`job_fields`, :func:`group_fields`), shared by
``--parsable2`` and ``--csv``: exact numbers in fixed units, for machines; the
free-text job name is the last column, so a ``|`` inside it cannot shift the
fields before it (split with ``maxsplit``). Text from outside (job, user,
account, partition names) has its control characters escaped
(:func:`~slurm_carbon.text.escape_control`) in every output but JSON
(:mod:`slurm_carbon.cli.report_json`), whose own escaping is safe.

Units: ``*kWh`` in kilowatt-hours (device energy before PUE, except
``TotalkWh`` which is after PUE), ``gCO2e`` in grams CO2e, ``CIgPerkWh`` in gCO2e/kWh.
"""

from __future__ import annotations

import re

from slurm_carbon.cli.params import SLURM_ID_MAX
from slurm_carbon.errors import ConfigError
from slurm_carbon.slurm.times import format_elapsed
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.reports import GroupTotals, JobRow, JobSelector
from slurm_carbon.text import escape_control, has_control, quote_input
from slurm_carbon.units import J_PER_KWH

__all__ = [
    "GROUP_COLUMNS",
    "JOB_COLUMNS",
    "LIST_MAX",
    "group_fields",
    "job_fields",
    "parse_jobs",
    "parse_names",
    "plain",
    "quality_text",
]

LIST_MAX = 10_000
"""Most items of one -j/-u/-A/-r list: each is a query parameter, and SQLite allows 32,766 and
PostgreSQL 65,535 in one statement (a job id with an array task takes two)."""

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

_JOB = re.compile(r"(\d{1,10})(?:_(\d{1,10}))?", re.ASCII)


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
            raise ConfigError(f"invalid job id {quote_input(item)} (use e.g. 12, 12_3 or 12,13)")
        job, task = int(match.group(1)), None if match.group(2) is None else int(match.group(2))
        if job > SLURM_ID_MAX or (task is not None and task > SLURM_ID_MAX):
            raise ConfigError(
                f"job id {quote_input(item)} is out of Slurm's range (0 to {SLURM_ID_MAX})"
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
            raise ConfigError(f"invalid {what} {quote_input(name)}: control characters")
    return names


def _items(text: str, what: str) -> tuple[str, ...]:
    """The non-blank items of a comma-separated list, at least one and at most LIST_MAX."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise ConfigError(f"no {what} given in {quote_input(text)}")
    if len(items) > LIST_MAX:
        raise ConfigError(f"{len(items):,} {what}s given; at most {LIST_MAX:,} at once")
    return items


def quality_text(figures: JobFigures | None) -> str:
    """``counter``, ``integrated`` or ``estimated``, plus ``+annual-ci``; ``pending`` without."""
    if figures is None:
        return "pending"
    return figures.quality + ("+annual-ci" if figures.ci_annual else "")


def _kwh(energy_j: float) -> str:
    return f"{energy_j / J_PER_KWH:.6f}"


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


def plain(text: str) -> str:
    """Outside text shown as is by rich: control characters escaped, no markup in a job name."""
    return escape_control(text).replace("[", r"\[")
