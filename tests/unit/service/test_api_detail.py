"""One job's detail through the read API: what the service sends is what the client rebuilds.

:func:`~slurm_carbon.service.api.documents.detail_json` (the service) and
:func:`~slurm_carbon.service.api.rows.job_detail_of` (the report's client) are
one serializer and its parser: a detail with every part filled comes back equal,
through JSON text, so ``report -j ID --service-url`` formats the service's
figures, none computed again.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from slurm_carbon import accounting as acc
from slurm_carbon.service.api.documents import detail_json
from slurm_carbon.service.api.rows import job_detail_of
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
from slurm_carbon.store.deferrals import DeferralRecord
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.reports import JobRow, TimelinePoint
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

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
# Energies are whole or halved kWh, so that J -> kWh -> J is exact in binary floating point.
KWH = 3_600_000.0


def _footprint(co2e_g: float, start: datetime) -> acc.Footprint:
    return acc.Footprint(
        energy_kwh={
            DeviceKind.GPU: 1.5,
            DeviceKind.CPU: 0.5,
            DeviceKind.DRAM: 0.25,
            DeviceKind.OTHER: 0.25,
        },
        facility_kwh=3.75,
        co2e_g=co2e_g,
        ci_mean_g_per_kwh=co2e_g / 3.75,
        start=start,
        end=start + 2 * HOUR,
        quality=acc.Quality(
            methods={EnergyMethod.COUNTER: 0.75, EnergyMethod.ESTIMATED: 0.25},
            sharing={Sharing.EXCLUSIVE: 0.5, Sharing.SHARED: 0.5},
            ci_kinds={CiKind.ACTUAL: 0.875, CiKind.FORECAST: 0.125},
            ci_sources=("electricitymaps", "trace"),
            ci_regions=("DE",),
            signal=CiSignal.AVERAGE,
            gap_share=0.125,
            methods_present=frozenset({EnergyMethod.COUNTER, EnergyMethod.ESTIMATED}),
            ci_synthetic=True,
        ),
        co2e_g_by_kind={
            DeviceKind.GPU: co2e_g * 0.5,
            DeviceKind.CPU: co2e_g * 0.25,
            DeviceKind.DRAM: co2e_g * 0.125,
            DeviceKind.OTHER: co2e_g * 0.125,
        },
    )


def rich_detail() -> JobDetail:
    """A shared, capped, budgeted, deferred job on two nodes, with every part of a detail."""
    figures = JobFigures(
        gpu_energy_j=1.5 * KWH,
        cpu_energy_j=0.5 * KWH,
        dram_energy_j=0.25 * KWH,
        other_energy_j=0.25 * KWH,
        co2e_g=1234.5,
        ci_mean_g_per_kwh=329.2,
        ci_region="DE",
        ci_source="electricitymaps,trace",
        pue=1.5,
        quality=EnergyMethod.ESTIMATED,
        sharing=Sharing.SHARED,
        computed_at=T0 + 2 * HOUR,
        slowdown=0.019,
        nominal_s=7065.0,
        slowdown_profile="A40 / resnet, learned",
        ci_actual_share=0.875,
        ci_forecast_share=0.125,
        node_coverage=0.75,
        missing_nodes="gpu03",
        gpu_co2e_g=800.0,
        cpu_co2e_g=234.5,
        dram_co2e_g=120.0,
        other_co2e_g=80.0,
    )
    action = BudgetActionRecord(
        job_id=0,
        action=BudgetAction.NOTIFY,
        at=T0 + HOUR,
        kind=BudgetKind.ENERGY,
        budget=2 * KWH,
        forecast=3 * KWH,
        forecast_low=2.5 * KWH,
        forecast_high=3.5 * KWH,
        progress=0.5,
        reason="forecast over budget",
        outcome=BudgetOutcome.DONE,
        outcome_message="mailed",
    )
    row = JobRow(
        row_id=0,
        slurm_job_id=200,
        array_job_id=200,
        array_task_id=3,
        name="train|v2 \x1b[2J",
        user_name="alice",
        account="physics",
        partition="gpu",
        state="RUNNING",
        start_time=T0,
        end_time=None,
        requested_gpus=2,
        figures=figures,
        budget_co2e_g=5000.0,
        budget_energy_j=2 * KWH,
        budget_action=action,
    )
    forecast = JobForecast(
        at=T0 + 2 * HOUR,
        progress=0.5,
        method="profile",
        energy_so_far_j=2.5 * KWH,
        co2e_so_far_g=1234.5,
        remaining_energy_j=2.5 * KWH,
        remaining_energy_low_j=2 * KWH,
        remaining_energy_high_j=3 * KWH,
        remaining_co2e_g=1000.0,
        remaining_co2e_low_g=800.0,
        remaining_co2e_high_g=1200.0,
        end_time=T0 + 4 * HOUR,
        ci_source="trace+forecast",
    )
    cap = CapDecisionRecord(0, "GPU-1", T0, T0 + HOUR, 175.0, "carbon", "CI 412 g/kWh", T0)
    deferral = DeferralRecord(
        0, 6 * 3600, T0 - 6 * HOUR, T0, T0 - 6 * HOUR, 31.25, "blend", T0 - 7 * HOUR,
        T0 - 6 * HOUR, 1200.0, 27.0, first_seen=True,
    )  # fmt: skip
    cleanest = acc.Counterfactual(f"start={T0 + HOUR}", T0 + HOUR, _footprint(900.0, T0), 1234.5)
    other = acc.Counterfactual("region=SE", T0, _footprint(120.0, T0), 1234.5)
    card = acc.EnergyCard("train", _footprint(1234.5, T0), "A40", 2, 4.0, "DE", cluster=None)
    return JobDetail(
        job=row,
        split=[
            EnergyShare(DeviceKind.GPU, 1.5 * KWH, 60.0),
            EnergyShare(DeviceKind.OTHER, 0.25 * KWH, 10.0),
        ],
        timeline=[
            TimelinePoint(T0, T0 + HOUR, 0.75 * KWH, 0.25 * KWH, 0.125 * KWH, 300.0),
            TimelinePoint(T0 + HOUR, T0 + 2 * HOUR, 0.75 * KWH, 0.25 * KWH, 0.125 * KWH, None),
        ],
        recomputed=Recomputed(
            co2e_g=1234.5,
            stored_co2e_g=1200.0,
            differs=True,
            counterfactuals=Counterfactuals("DE", "electricitymaps", 24.0, T0, cleanest, [other]),
            card=card,
        ),
        running=RunningForecast(forecast, None, 5000.0, 2 * KWH),
        caps=(cap, CapDecisionRecord(0, None, T0 + HOUR, T0 + 2 * HOUR, 250.0, "static", "s", T0)),
        deferral=deferral,
        nodes=(
            NodeEnergy("gpu01", 1.5 * KWH, KWH, 60.0, co2e_g=740.7, coverage_pct=100.0),
            NodeEnergy("gpu02", KWH, 0.5 * KWH, 40.0, co2e_g=493.8, coverage_pct=50.0),
            NodeEnergy("gpu03", 0.0, 0.0, 0.0, co2e_g=0.0, coverage_pct=0.0),
        ),
    )


def through_json(detail: JobDetail) -> JobDetail:
    return job_detail_of(json.loads(json.dumps(detail_json(detail), allow_nan=False)))


def test_a_rich_detail_comes_back_equal() -> None:
    detail = rich_detail()
    assert through_json(detail) == detail


def test_a_running_job_without_a_forecast_keeps_why_and_an_ended_job_has_no_forecast() -> None:
    detail = rich_detail()
    why = RunningForecast(None, "no progress reported", 5000.0, 2 * KWH)
    assert through_json(replace_running(detail, why)).running == why
    assert through_json(replace_running(detail, None)).running is None


def test_a_pending_job_without_recomputation_comes_back_equal() -> None:
    detail = rich_detail()
    pending = JobDetail(
        job=replace(detail.job, figures=None, budget_action=None),
        split=[],
        timeline=[],
        not_recomputed="no energy intervals are stored for job 200_3",
    )
    back = through_json(pending)
    assert back == pending
    assert back.recomputed is None


def replace_running(detail: JobDetail, running: RunningForecast | None) -> JobDetail:
    return replace(detail, running=running)
