"""The report's rows and totals read back from the read API's documents (the client's side).

:func:`job_row` inverts :func:`~slurm_carbon.service.api.documents.job_json`
and :func:`group_totals` inverts
:func:`~slurm_carbon.service.api.documents.group_json`, so that
``slurm-carbon report --service-url`` formats what the service sent with the
code that formats the store's rows. An item does not carry what the report
does not show: the row id (0 here), the job's Slurm id when it is an array task
(the array's id here), how its devices were shared (exclusive here) and when its
result was computed (its end here). A figure the service sent as null because
it was not finite (named in ``non_finite``) is NaN.

Units: as the documents' (kWh, g), turned back into joules and grams.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from slurm_carbon.store.budgets import BudgetActionRecord
from slurm_carbon.store.deferrals import DeferralTotals
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.reports import GroupTotals, JobRow
from slurm_carbon.units import J_PER_KWH
from slurm_carbon.vocabulary import (
    BudgetAction,
    BudgetKind,
    BudgetOutcome,
    EnergyMethod,
    Sharing,
)

__all__ = ["SYNTHETIC_SOURCE", "deferral_totals", "group_totals", "job_row"]

#: The name a synthetic carbon-intensity series is stored under (revision 0006 flags it so).
SYNTHETIC_SOURCE = "synthetic"
_ANNUAL_MARK = "+annual-ci"
# When a result was computed is not sent; an ended job's end stands in, else this.
_EPOCH = datetime.fromtimestamp(0, UTC)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _number(item: dict[str, Any], key: str) -> float:
    """``item[key]``; NaN for a figure the service could not send (not finite)."""
    value = item.get(key)
    return math.nan if value is None else float(value)


def _kwh(item: dict[str, Any], key: str) -> float:
    return _number(item, key) * J_PER_KWH


def _figures(item: dict[str, Any], end: datetime | None) -> JobFigures | None:
    if item["pending"]:
        return None
    quality = str(item["quality"])
    source = item["ci_source"]
    return JobFigures(
        gpu_energy_j=_kwh(item, "gpu_kwh"),
        cpu_energy_j=_kwh(item, "cpu_kwh"),
        dram_energy_j=_kwh(item, "dram_kwh"),
        other_energy_j=_kwh(item, "other_kwh"),
        co2e_g=_number(item, "co2e_g"),
        ci_mean_g_per_kwh=item["ci_g_per_kwh"],
        ci_region=item["ci_region"],
        ci_source=source,
        pue=_number(item, "pue"),
        quality=EnergyMethod(quality.removesuffix(_ANNUAL_MARK)),
        ci_annual=quality.endswith(_ANNUAL_MARK),
        ci_synthetic=source is not None and SYNTHETIC_SOURCE in source.split(","),
        sharing=Sharing.EXCLUSIVE,
        computed_at=end or _EPOCH,
        slowdown=None if item["slowdown"] is None else item["slowdown"]["fraction"],
        nominal_s=None if item["slowdown"] is None else item["slowdown"]["nominal_s"],
        slowdown_profile=None if item["slowdown"] is None else item["slowdown"]["profile"],
    )


def _action(found: dict[str, Any] | None) -> BudgetActionRecord | None:
    if found is None:
        return None
    scale = 1.0 if found["kind"] == BudgetKind.CO2E else J_PER_KWH
    return BudgetActionRecord(
        job_id=0,
        action=BudgetAction(found["action"]),
        at=datetime.fromisoformat(found["at"]),
        kind=BudgetKind(found["kind"]),
        budget=_number(found, "budget") * scale,
        forecast=_number(found, "forecast") * scale,
        forecast_low=_number(found, "forecast_low") * scale,
        forecast_high=_number(found, "forecast_high") * scale,
        progress=found["progress"],
        reason=found["reason"],
        outcome=BudgetOutcome(found["outcome"]),
        outcome_message=found["outcome_message"],
    )


def job_row(item: dict[str, Any]) -> JobRow:
    """The row an item of ``GET /api/v1/jobs`` was made from, as far as the report shows it."""
    job, _, task = str(item["job_id"]).partition("_")
    end = _time(item["end"])
    budget = item["budget"] or {}
    kwh = budget.get("kwh")
    return JobRow(
        row_id=0,
        slurm_job_id=int(job),
        array_job_id=int(job) if task else None,
        array_task_id=int(task) if task else None,
        name=item["name"],
        user_name=item["user"],
        account=item["account"],
        partition=item["partition"],
        state=item["state"],
        start_time=_time(item["start"]),
        end_time=end,
        requested_gpus=int(item["gpus"]),
        figures=_figures(item, end),
        budget_co2e_g=budget.get("co2e_g"),
        budget_energy_j=None if kwh is None else kwh * J_PER_KWH,
        budget_action=_action(budget.get("action")),
    )


def group_totals(item: dict[str, Any]) -> GroupTotals:
    """The sums a ``totals`` or ``groups`` item of ``GET /api/v1/totals`` was made from."""
    return GroupTotals(
        key=item["key"],
        jobs=int(item["jobs"]),
        pending_jobs=int(item["pending_jobs"]),
        estimated_jobs=int(item["estimated_jobs"]),
        gpu_energy_j=_kwh(item, "gpu_kwh"),
        cpu_energy_j=_kwh(item, "cpu_kwh"),
        dram_energy_j=_kwh(item, "dram_kwh"),
        other_energy_j=_kwh(item, "other_kwh"),
        facility_energy_j=_kwh(item, "facility_kwh"),
        co2e_g=_number(item, "co2e_g"),
        waste_co2e_g=_number(item, "waste_co2e_g"),
    )


def deferral_totals(item: dict[str, Any]) -> DeferralTotals:
    """The ``deferrals`` of ``GET /api/v1/totals``."""
    return DeferralTotals(
        jobs=int(item["jobs"]),
        measured_jobs=int(item["measured_jobs"]),
        measured_saving_g=_number(item, "measured_saving_g"),
        co2e_at_start_g=_number(item, "co2e_at_start_g"),
    )
