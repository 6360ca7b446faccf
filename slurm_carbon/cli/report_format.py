"""What ``slurm-carbon report`` reads and writes as text: job and name lists, our columns.

Inputs: job ids and names are parsed by :mod:`slurm_carbon.store.reports.filters`
(shared with the read API; :func:`parse_jobs`, :func:`parse_names`,
:func:`quality_text` and :data:`LIST_MAX` are re-exported here).

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

from slurm_carbon.slurm.times import format_elapsed
from slurm_carbon.store.deferrals import DeferralTotals
from slurm_carbon.store.reports import GroupTotals, JobRow
from slurm_carbon.store.reports.filters import LIST_MAX, parse_jobs, parse_names, quality_text
from slurm_carbon.text import escape_control
from slurm_carbon.units import J_PER_KWH

__all__ = [
    "DEFERRAL_COLUMNS",
    "GROUP_COLUMNS",
    "JOB_COLUMNS",
    "LIST_MAX",
    "deferral_fields",
    "group_fields",
    "job_fields",
    "parse_jobs",
    "parse_names",
    "plain",
    "quality_text",
]

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

DEFERRAL_COLUMNS = (
    "DeferredJobs",
    "DeferredMeasured",
    "DeferredgCO2eAtStart",
    "DeferredgCO2eAtSubmit",
    "DeferredSavedgCO2e",
)
"""Columns after :data:`GROUP_COLUMNS` with ``--by user|account``: the group's carbon_defer
jobs, those measured, their CO2e as they ran, from submit time, and the saving (g)."""


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


def deferral_fields(found: DeferralTotals | None) -> list[str]:
    """One text field per :data:`DEFERRAL_COLUMNS` (None: no deferred job, zeros)."""
    found = found or DeferralTotals(0, 0, 0.0)
    return [
        str(found.jobs),
        str(found.measured_jobs),
        f"{found.co2e_at_start_g:.3f}",
        f"{found.co2e_at_submit_g:.3f}",
        f"{found.measured_saving_g:.3f}",
    ]


def plain(text: str) -> str:
    """Outside text shown as is by rich: control characters escaped, no markup in a job name."""
    return escape_control(text).replace("[", r"\[")
