"""The JSON of jobs and totals, shared by ``slurm-carbon report --json`` and the read API.

Each item follows :data:`slurm_carbon.cli.report_json.REPORT_JSON_SCHEMA`; a
figure that is not finite (a corrupt stored value) is ``null`` and named in the
item's ``non_finite`` list. Outside text is left as is: JSON's own escaping is safe.

Units: ``*_kwh`` in kilowatt-hours (device energy before PUE, except
``facility_kwh`` which is after PUE), ``co2e_g`` in grams CO2e,
``ci_g_per_kwh`` in gCO2e/kWh, ``*_pct`` in percent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slurm_carbon import accounting as acc
from slurm_carbon.accounting import equivalents
from slurm_carbon.store.caps import CapDecisionRecord
from slurm_carbon.store.deferrals import DeferralRecord, DeferralTotals
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.reports import GroupTotals, JobRow
from slurm_carbon.store.reports.filters import quality_text
from slurm_carbon.units import J_PER_KWH
from slurm_carbon.vocabulary import BudgetKind

if TYPE_CHECKING:  # service.detail imports the service package, which imports this module
    from slurm_carbon.service.detail import JobDetail, NodeEnergy, Recomputed, RunningForecast

__all__ = [
    "FIGURE_KEYS",
    "caps_json",
    "deferral_json",
    "deferral_totals_json",
    "detail_json",
    "equivalents_json",
    "footprint_json",
    "forecast_json",
    "group_json",
    "job_json",
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


def forecast_json(running: RunningForecast | None) -> dict[str, Any] | None:
    """A running job's forecast as ``forecast`` of an item of ``jobs``; None: no forecast."""
    found = None if running is None else running.forecast
    if running is None or found is None:
        return None
    return _finite(
        {
            "at": found.at.isoformat(),
            "progress": found.progress,
            "method": found.method,
            "end": _iso(found.end_time),
            "ci_source": found.ci_source,
            "so_far_kwh": found.energy_so_far_j / J_PER_KWH,
            "so_far_co2e_g": found.co2e_so_far_g,
            "remaining_kwh": found.remaining_energy_j / J_PER_KWH,
            "remaining_kwh_low": found.remaining_energy_low_j / J_PER_KWH,
            "remaining_kwh_high": found.remaining_energy_high_j / J_PER_KWH,
            "remaining_co2e_g": found.remaining_co2e_g,
            "remaining_co2e_g_low": found.remaining_co2e_low_g,
            "remaining_co2e_g_high": found.remaining_co2e_high_g,
            "total_kwh": found.total_energy_j / J_PER_KWH,
            "total_kwh_low": found.total_energy_low_j / J_PER_KWH,
            "total_kwh_high": found.total_energy_high_j / J_PER_KWH,
            "total_co2e_g": found.total_co2e_g,
            "total_co2e_g_low": found.total_co2e_low_g,
            "total_co2e_g_high": found.total_co2e_high_g,
            "budget_co2e_pct": running.co2e_budget_pct,
            "budget_energy_pct": running.energy_budget_pct,
        }
    )


def _budget_json(row: JobRow) -> dict[str, Any] | None:
    """The job's budgets and the action taken on them; None without either."""
    action = row.budget_action
    if row.budget_co2e_g is None and row.budget_energy_j is None and action is None:
        return None
    acted = None
    if action is not None:
        co2e = action.kind is BudgetKind.CO2E
        scale = 1.0 if co2e else J_PER_KWH  # divided by: exact back and forth for whole kWh
        acted = _finite(
            {
                "action": action.action.value,
                "at": action.at.isoformat(),
                "kind": action.kind.value,
                "unit": "g" if co2e else "kWh",
                "budget": action.budget / scale,
                "forecast": action.forecast / scale,
                "forecast_low": action.forecast_low / scale,
                "forecast_high": action.forecast_high / scale,
                "progress": action.progress,
                "reason": action.reason,
                "outcome": action.outcome.value,
                "outcome_message": action.outcome_message,
            }
        )
    energy_j = row.budget_energy_j
    return _finite(
        {
            "co2e_g": row.budget_co2e_g,
            "kwh": None if energy_j is None else energy_j / J_PER_KWH,
            "action": acted,
        }
    )


def caps_json(caps: Sequence[CapDecisionRecord]) -> list[dict[str, Any]]:
    """A job's power caps as ``caps`` of an item of ``jobs``, by period start."""
    return [
        _finite(
            {
                "period_start": cap.period_start.isoformat(),
                "period_end": cap.period_end.isoformat(),
                "power_limit_w": cap.power_limit_w,
                "device": cap.device,
                "policy": cap.policy,
                "reason": cap.reason,
                "decided_at": cap.decided_at.isoformat(),
            }
        )
        for cap in caps
    ]


def _slowdown_json(row: JobRow) -> dict[str, Any] | None:
    """A capped job's slowdown against its own profile, stored with its result; else None."""
    figures = row.figures
    if figures is None or figures.slowdown is None:
        return None
    return _finite(
        {
            "fraction": figures.slowdown,
            "nominal_s": figures.nominal_s,
            "profile": figures.slowdown_profile,
        }
    )


def deferral_json(deferral: DeferralRecord | None) -> dict[str, Any] | None:
    """A job's ``carbon_defer`` decision and measured saving; None when not deferred."""
    if deferral is None:
        return None
    return _finite(
        {
            "asked_s": deferral.asked_s,
            "submit": _iso(deferral.submit_time),
            "eligible": _iso(deferral.eligible_time),
            "counterfactual_start": _iso(deferral.counterfactual_start),
            "expected_saving_pct": deferral.expected_saving_pct,
            "forecast_source": deferral.forecast_source,
            "forecast_issued": _iso(deferral.forecast_issued),
            "first_seen": deferral.first_seen,
            "measured_saving_g": deferral.measured_saving_g,
            "measured_saving_pct": deferral.measured_saving_pct,
        }
    )


def deferral_totals_json(found: DeferralTotals) -> dict[str, Any]:
    """The ``deferrals`` of a report: carbon_defer jobs, those measured, their savings summed."""
    return _finite(
        {
            "jobs": found.jobs,
            "measured_jobs": found.measured_jobs,
            "measured_saving_g": found.measured_saving_g,
            "co2e_at_start_g": found.co2e_at_start_g,
            "co2e_at_submit_g": found.co2e_at_submit_g,
        }
    )


def job_json(
    row: JobRow,
    running: RunningForecast | None = None,
    caps: Sequence[CapDecisionRecord] = (),
    deferral: DeferralRecord | None = None,
    nodes: Sequence[NodeEnergy] = (),
) -> dict[str, Any]:
    """A job as an item of ``jobs`` in the report's JSON schema, with what else is stored.

    Its forecast (running), its caps, its deferral (``carbon_defer``) and its
    energy node by node (each node's fields, as a detail's ``nodes``).
    """
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
        "forecast": forecast_json(running),
        "budget": _budget_json(row),
        "caps": caps_json(caps),
        "slowdown": _slowdown_json(row),
        "deferral": deferral_json(deferral),
        "nodes": [_fields_json(node) for node in nodes],
    }
    if figures is None:
        item.update(dict.fromkeys(FIGURE_KEYS))
    else:
        item.update(
            gpu_kwh=figures.gpu_energy_j / J_PER_KWH,
            cpu_kwh=figures.cpu_energy_j / J_PER_KWH,
            dram_kwh=figures.dram_energy_j / J_PER_KWH,
            other_kwh=figures.other_energy_j / J_PER_KWH,
            facility_kwh=figures.facility_energy_j / J_PER_KWH,
            co2e_g=figures.co2e_g,
            ci_g_per_kwh=figures.ci_mean_g_per_kwh,
            ci_region=figures.ci_region,
            ci_source=figures.ci_source,
            pue=figures.pue,
            node_coverage=figures.node_coverage,
            missing_nodes=figures.missing_nodes,
        )
    return _finite(item)


def group_json(group: GroupTotals) -> dict[str, Any]:
    """Totals as ``totals`` or an item of ``groups`` in the report's JSON schema."""
    return _finite(
        {
            "key": group.key,
            "jobs": group.jobs,
            "pending_jobs": group.pending_jobs,
            "estimated_jobs": group.estimated_jobs,
            "gpu_kwh": group.gpu_energy_j / J_PER_KWH,
            "cpu_kwh": group.cpu_energy_j / J_PER_KWH,
            "dram_kwh": group.dram_energy_j / J_PER_KWH,
            "other_kwh": group.other_energy_j / J_PER_KWH,
            "facility_kwh": group.facility_energy_j / J_PER_KWH,
            "co2e_g": group.co2e_g,
            "waste_co2e_g": group.waste_co2e_g,
        }
    )


#: The keys of a job's figures in its item (all null while it is pending).
FIGURE_KEYS = (
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
    "node_coverage",
    "missing_nodes",
)


def footprint_json(found: acc.Footprint) -> dict[str, Any]:
    """A footprint whole (energy by kind, figures, period, quality), as the detail carries it."""
    quality = found.quality
    return {
        **_finite(
            {
                "facility_kwh": found.facility_kwh,
                "co2e_g": found.co2e_g,
                "ci_g_per_kwh": found.ci_mean_g_per_kwh,
            }
        ),
        "energy_kwh": {kind.value: kwh for kind, kwh in found.energy_kwh.items()},
        "co2e_g_by_kind": {kind.value: grams for kind, grams in found.co2e_g_by_kind.items()},
        "start": _iso(found.start),
        "end": _iso(found.end),
        "quality": {
            "methods": {method.value: share for method, share in quality.methods.items()},
            "sharing": {sharing.value: share for sharing, share in quality.sharing.items()},
            "ci_kinds": {kind.value: share for kind, share in quality.ci_kinds.items()},
            "ci_sources": list(quality.ci_sources),
            "ci_regions": list(quality.ci_regions),
            "signal": None if quality.signal is None else quality.signal.value,
            "gap_share": quality.gap_share,
            "methods_present": sorted(method.value for method in quality.methods_present),
            "ci_synthetic": quality.ci_synthetic,
        },
    }


def _counterfactual_json(found: acc.Counterfactual) -> dict[str, Any]:
    return {
        **_finite(
            {
                "label": found.label,
                "start": _iso(found.start),
                "co2e_g": found.co2e_g,
                "actual_co2e_g": found.actual_co2e_g,
                "savings_g": found.savings_g,
            }
        ),
        "footprint": footprint_json(found.footprint),
    }


def _recomputed_json(recomputed: Recomputed) -> dict[str, Any]:
    found = recomputed.counterfactuals
    return {
        **_finite(
            {
                "co2e_g": recomputed.co2e_g,
                "stored_co2e_g": recomputed.stored_co2e_g,
                "differs": recomputed.differs,
            }
        ),
        "counterfactuals": {
            "region": found.region,
            "source": found.source,
            "window_h": found.window_h,
            "actual_start": _iso(found.actual_start),
            "cleanest": None if found.cleanest is None else _counterfactual_json(found.cleanest),
            "other_regions": [_counterfactual_json(other) for other in found.other_regions],
        },
        "energy_card": recomputed.card.to_dict(),
        "footprint": footprint_json(recomputed.card.footprint),
    }


def _fields_json(record: JobFigures | NodeEnergy | DeferralRecord) -> dict[str, Any]:
    """A record's every field under its own name (units in the names), times in ISO 8601.

    Not the row id (``job_id``): the caller knows the job by its Slurm id.
    """
    return _finite(
        {
            field.name: _iso(value) if isinstance(value, datetime) else value
            for field in dataclasses.fields(record)
            if field.name != "job_id"
            for value in (getattr(record, field.name),)
        }
    )


def detail_json(detail: JobDetail) -> dict[str, Any]:
    """One job in detail, as ``report -j ID`` shows it: its item, split, timeline and what-ifs.

    ``job`` is the job's item (forecast, caps, budget, deferral); ``result``
    its stored result whole, every field of
    :class:`~slurm_carbon.store.figures.JobFigures` under its own name (joules,
    grams; null: pending); ``not_forecast`` why a running job has no forecast
    (null: it has one, or it is not running); ``deferral`` its ``carbon_defer``
    decision whole (:class:`~slurm_carbon.store.deferrals.DeferralRecord`'s
    fields; null: not deferred); ``nodes`` its measured energy node by node, each
    :class:`~slurm_carbon.service.detail.NodeEnergy` field under its own name;
    ``split`` its
    energy by device kind; ``timeline`` its energy and the carbon intensity per
    step (at most :data:`~slurm_carbon.service.detail.MAX_TIMELINE_STEPS`);
    ``recomputed`` (null: ``not_recomputed`` says why) the footprint recomputed
    from the intervals (``footprint``, whole), the cleanest start, other regions
    (each with its footprint) and the energy card. The client rebuilds the
    :class:`~slurm_carbon.service.detail.JobDetail` from it
    (:func:`~slurm_carbon.service.api.rows.job_detail_of`).
    """
    figures = detail.job.figures
    running = detail.running
    return {
        "job": job_json(detail.job, running, detail.caps, detail.deferral, detail.nodes),
        "result": None if figures is None else _fields_json(figures),
        "deferral": None if detail.deferral is None else _fields_json(detail.deferral),
        "not_forecast": None if running is None else running.not_forecast,
        "nodes": [_fields_json(node) for node in detail.nodes],
        "split": [
            _finite(
                {
                    "kind": share.kind.value,
                    "kwh": share.energy_j / J_PER_KWH,
                    "share_pct": share.share_pct,
                }
            )
            for share in detail.split
        ],
        "timeline": [
            _finite(
                {
                    "start": _iso(point.start),
                    "end": _iso(point.end),
                    "gpu_kwh": point.gpu_energy_j / J_PER_KWH,
                    "cpu_kwh": point.cpu_energy_j / J_PER_KWH,
                    "dram_kwh": point.dram_energy_j / J_PER_KWH,
                    "ci_g_per_kwh": point.ci_g_per_kwh,
                }
            )
            for point in detail.timeline
        ],
        "recomputed": None if detail.recomputed is None else _recomputed_json(detail.recomputed),
        "not_recomputed": detail.not_recomputed,
    }
