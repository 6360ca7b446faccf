"""The report's rows and totals read back from the read API's documents (the client's side).

:func:`job_row` inverts :func:`~slurm_carbon.service.api.documents.job_json`,
:func:`group_totals` inverts :func:`~slurm_carbon.service.api.documents.group_json`
and :func:`job_detail_of` inverts
:func:`~slurm_carbon.service.api.documents.detail_json`, so that
``slurm-carbon report --service-url`` formats what the service sent with the
code that formats the store's rows; no figure is computed again here. An item
does not carry what the report does not show: the row id (0 here, also in a
detail's caps and deferral), the job's Slurm id when it is an array task (the
array's id here), its node list and time limit (none here), how its devices
were shared (exclusive here) and when its result was computed (its end here);
a detail sends its result, its deferral and its nodes whole. A figure the
service sent as null because it was not finite (named in ``non_finite``) is NaN.

Units: as the documents' (kWh, g), turned back into joules and grams.
"""

from __future__ import annotations

import enum
import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args, get_type_hints

from slurm_carbon import accounting as acc
from slurm_carbon.service.detail import (
    Counterfactuals,
    EnergyShare,
    JobDetail,
    NodeEnergy,
    Recomputed,
    RunningForecast,
)
from slurm_carbon.service.job_forecast import JobForecast
from slurm_carbon.store.budgets import BudgetActionRecord
from slurm_carbon.store.caps import CapDecisionRecord
from slurm_carbon.store.deferrals import DeferralRecord, DeferralTotals
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.reports import GroupTotals, JobRow, TimelinePoint
from slurm_carbon.store.reports.filters import parse_jobs
from slurm_carbon.units import J_PER_KWH
from slurm_carbon.vocabulary import (
    BudgetAction,
    BudgetKind,
    BudgetOutcome,
    CiKind,
    CiSignal,
    DeviceKind,
    EnergyMethod,
    Sharing,
)

__all__ = ["SYNTHETIC_SOURCE", "deferral_totals", "group_totals", "job_detail_of", "job_row"]

#: The name a synthetic carbon-intensity series is stored under (revision 0006 flags it so).
SYNTHETIC_SOURCE = "synthetic"
_ANNUAL_MARK = "+annual-ci"
_MISSING_MARK = "+missing-nodes"
# When a result was computed is not sent; an ended job's end stands in, else this.
_EPOCH = datetime.fromtimestamp(0, UTC)
# A record a detail sends field by field (its result, its deferral, a node's energy).
_Record = TypeVar("_Record", JobFigures, DeferralRecord, NodeEnergy)


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
    quality = str(item["quality"]).removesuffix(_MISSING_MARK)
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
        node_coverage=item["node_coverage"],
        missing_nodes=item["missing_nodes"],
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
    """The row an item of ``GET /api/v1/jobs`` was made from, as far as the report shows it.

    The item names a job as sacct does (``12``, ``12_3``, ``12+1``), not by its raw id:
    an array task's or het job component's ``slurm_job_id`` is its array's or het job's.
    """
    [named] = parse_jobs(str(item["job_id"]))
    end = _time(item["end"])
    budget = item["budget"] or {}
    kwh = budget.get("kwh")
    return JobRow(
        row_id=0,
        slurm_job_id=named.job_id,
        array_job_id=None if named.array_task_id is None else named.job_id,
        array_task_id=named.array_task_id,
        het_job_id=None if named.het_job_offset is None else named.job_id,
        het_job_offset=named.het_job_offset,
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


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    """A record's fields as sent by name; NaN for those sent null because not finite."""
    fields = {key: value for key, value in item.items() if key != "non_finite"}
    return fields | dict.fromkeys(item.get("non_finite", ()), math.nan)


def _record(kind: type[_Record], item: dict[str, Any], **given: Any) -> _Record:
    """The dataclass ``kind`` of a record sent field by field (``_fields_json``).

    Each field is turned back into its annotated type: times from ISO 8601,
    enumerations from their values; ``given`` fills what is not sent (the row id).
    """
    hints = get_type_hints(kind)
    fields = _fields(item) | given
    for name, value in fields.items():
        types = get_args(hints[name]) or (hints[name],)
        if isinstance(value, str) and datetime in types:
            fields[name] = datetime.fromisoformat(value)
        elif isinstance(value, str):
            for option in types:
                if isinstance(option, type) and issubclass(option, enum.Enum):
                    fields[name] = option(value)
    return kind(**fields)


def _forecast(item: dict[str, Any] | None) -> JobForecast | None:
    if item is None:
        return None
    return JobForecast(
        at=datetime.fromisoformat(item["at"]),
        progress=item["progress"],
        method=item["method"],
        energy_so_far_j=_kwh(item, "so_far_kwh"),
        co2e_so_far_g=_number(item, "so_far_co2e_g"),
        remaining_energy_j=_kwh(item, "remaining_kwh"),
        remaining_energy_low_j=_kwh(item, "remaining_kwh_low"),
        remaining_energy_high_j=_kwh(item, "remaining_kwh_high"),
        remaining_co2e_g=_number(item, "remaining_co2e_g"),
        remaining_co2e_low_g=_number(item, "remaining_co2e_g_low"),
        remaining_co2e_high_g=_number(item, "remaining_co2e_g_high"),
        end_time=_time(item["end"]),
        ci_source=item["ci_source"],
    )


def _caps(items: list[dict[str, Any]]) -> tuple[CapDecisionRecord, ...]:
    return tuple(
        CapDecisionRecord(
            job_id=0,
            device=cap["device"],
            period_start=datetime.fromisoformat(cap["period_start"]),
            period_end=datetime.fromisoformat(cap["period_end"]),
            power_limit_w=_number(cap, "power_limit_w"),
            policy=cap["policy"],
            reason=cap["reason"],
            decided_at=datetime.fromisoformat(cap["decided_at"]),
        )
        for cap in items
    )


def _footprint(item: dict[str, Any]) -> acc.Footprint:
    """The footprint :func:`~slurm_carbon.service.api.documents.footprint_json` sent."""
    quality = item["quality"]
    signal = quality["signal"]
    return acc.Footprint(
        energy_kwh={DeviceKind(kind): kwh for kind, kwh in item["energy_kwh"].items()},
        facility_kwh=_number(item, "facility_kwh"),
        co2e_g=_number(item, "co2e_g"),
        ci_mean_g_per_kwh=item["ci_g_per_kwh"],
        start=_time(item["start"]),
        end=_time(item["end"]),
        quality=acc.Quality(
            methods={EnergyMethod(key): share for key, share in quality["methods"].items()},
            sharing={Sharing(key): share for key, share in quality["sharing"].items()},
            ci_kinds={CiKind(key): share for key, share in quality["ci_kinds"].items()},
            ci_sources=tuple(quality["ci_sources"]),
            ci_regions=tuple(quality["ci_regions"]),
            signal=None if signal is None else CiSignal(signal),
            gap_share=quality["gap_share"],
            methods_present=frozenset(EnergyMethod(key) for key in quality["methods_present"]),
            ci_synthetic=quality["ci_synthetic"],
        ),
        co2e_g_by_kind={DeviceKind(kind): g for kind, g in item["co2e_g_by_kind"].items()},
    )


def _counterfactual(item: dict[str, Any]) -> acc.Counterfactual:
    return acc.Counterfactual(
        label=item["label"],
        start=datetime.fromisoformat(item["start"]),
        footprint=_footprint(item["footprint"]),
        actual_co2e_g=_number(item, "actual_co2e_g"),
    )


def _recomputed(item: dict[str, Any] | None) -> Recomputed | None:
    if item is None:
        return None
    found, card = item["counterfactuals"], item["energy_card"]
    cleanest = found["cleanest"]
    return Recomputed(
        co2e_g=_number(item, "co2e_g"),
        stored_co2e_g=_number(item, "stored_co2e_g"),
        differs=item["differs"],
        counterfactuals=Counterfactuals(
            region=found["region"],
            source=found["source"],
            window_h=found["window_h"],
            actual_start=datetime.fromisoformat(found["actual_start"]),
            cleanest=None if cleanest is None else _counterfactual(cleanest),
            other_regions=[_counterfactual(other) for other in found["other_regions"]],
        ),
        card=acc.EnergyCard(
            title=card["title"],
            footprint=_footprint(item["footprint"]),
            accelerator=card["accelerator"]["type"],
            accelerator_count=card["accelerator"]["count"],
            accelerator_hours=card["accelerator"]["hours"],
            region=card["region"],
            cluster=card["cluster"],
        ),
    )


def job_detail_of(body: dict[str, Any]) -> JobDetail:
    """The detail ``GET /api/v1/jobs/{job_id}`` was made from, as far as the report shows it."""
    item = body["job"]
    result, deferral = body["result"], body["deferral"]
    row = replace(job_row(item), figures=None if result is None else _record(JobFigures, result))
    forecast, not_forecast = _forecast(item["forecast"]), body["not_forecast"]
    running = None
    if forecast is not None or not_forecast is not None:
        running = RunningForecast(forecast, not_forecast, row.budget_co2e_g, row.budget_energy_j)
    return JobDetail(
        job=row,
        split=[
            EnergyShare(DeviceKind(share["kind"]), _kwh(share, "kwh"), _number(share, "share_pct"))
            for share in body["split"]
        ],
        timeline=[
            TimelinePoint(
                datetime.fromisoformat(point["start"]),
                datetime.fromisoformat(point["end"]),
                _kwh(point, "gpu_kwh"),
                _kwh(point, "cpu_kwh"),
                _kwh(point, "dram_kwh"),
                point["ci_g_per_kwh"],
            )
            for point in body["timeline"]
        ],
        recomputed=_recomputed(body["recomputed"]),
        not_recomputed=body["not_recomputed"],
        running=running,
        caps=_caps(item["caps"]),
        deferral=None if deferral is None else _record(DeferralRecord, deferral, job_id=0),
        nodes=tuple(_record(NodeEnergy, node) for node in body["nodes"]),
    )
