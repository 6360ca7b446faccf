"""GET /metrics: Prometheus figures read from the store at scrape time, equal to the report's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from slurm_carbon.accounting import EnergySpan, footprint
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.metrics import METRICS, MetricsEndpoint, PipelineMetrics
from slurm_carbon.service.poller import IntensityPoller
from slurm_carbon.service.results import compute_result, store_job
from slurm_carbon.service.site import StaticSite
from slurm_carbon.store import (
    NewInterval,
    SessionFactory,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    make_engine,
    session_factory,
    upgrade,
    upsert_job,
)
from slurm_carbon.store.budgets import BudgetActionRecord, record_budget_action
from slurm_carbon.store.caps import CapDecisionRecord, record_decision
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.store.nodes import NodeHealth, record_node_health
from slurm_carbon.store.reports import ReportQuery, totals
from slurm_carbon.store.results import (
    StoredInterval,
    record_comment_attempt,
    request_comment,
    save_result,
)
from slurm_carbon.vocabulary import (
    UNSPLIT,
    BudgetAction,
    BudgetKind,
    BudgetOutcome,
    CiKind,
    CiSignal,
    DeviceKind,
    EnergyMethod,
    Sharing,
)
from tests.builders import slurm_job

#: The app's clock here: that of the service tests' ``api`` fixture.
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
_MEASURED = (EnergyMethod.COUNTER, Sharing.EXCLUSIVE)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value_of(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _sum(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(
        value for (found, keys), value in samples.items() if found == name and wanted <= keys
    )


def _figures(
    gpu_j: float,
    co2e_g: float,
    quality: EnergyMethod,
    split: tuple[float, float, float, float] | None = None,
    **fields: float,
) -> JobFigures:
    """A result; ``split``: its CO2e by GPU, CPU, DRAM, other (None: settled before 0020)."""
    gpu_g, cpu_g, dram_g, other_g = (None,) * 4 if split is None else split
    return JobFigures(
        gpu_energy_j=gpu_j,
        cpu_energy_j=fields.get("cpu", 0.0),
        dram_energy_j=fields.get("dram", 0.0),
        other_energy_j=fields.get("other", 0.0),
        co2e_g=co2e_g,
        ci_mean_g_per_kwh=100.0,
        ci_region="SE",
        ci_source="trace",
        pue=fields.get("pue", 1.0),
        quality=quality,
        sharing=Sharing.EXCLUSIVE,
        computed_at=NOW,
        gpu_co2e_g=gpu_g,
        cpu_co2e_g=cpu_g,
        dram_co2e_g=dram_g,
        other_co2e_g=other_g,
    )


def _ci(time: datetime, value: float, kind: CiKind, issued_at: datetime) -> CiPoint:
    return CiPoint("SE", time, 3600, value, "trace", kind, CiSignal.AVERAGE, issued_at)


def _store(session: Session) -> None:
    """Three accounted jobs, one running capped job, one pending; CI, writes, a budget action."""
    cluster = get_or_create_cluster(session, "tc")
    node = get_or_create_node(session, cluster.id, "gpu01")
    gpu = get_or_create_device(session, node.id, "GPU-1", kind=DeviceKind.GPU, minor=0)
    ended = NOW - timedelta(hours=1)

    def job(job_id: int, partition: str | None, account: str | None, **fields: Any) -> int:
        return upsert_job(
            session, cluster.id, job_id, partition=partition, account=account, **fields
        ).id

    physics = job(1, "gpu", "phys", end_time=ended, state="COMPLETED")
    chemistry = job(2, "gpu", "chem", end_time=ended, state="FAILED")
    debug = job(3, None, None, end_time=ended, state="COMPLETED")
    running = job(4, "gpu", "phys", start_time=NOW - timedelta(hours=2), requested_gpus=2)
    job(5, "gpu", "phys", end_time=ended, state="COMPLETED")  # pending: no result yet
    save_result(
        session,
        physics,
        _figures(
            3.6e6,
            900.0,
            EnergyMethod.COUNTER,
            (500.0, 250.0, 100.0, 50.0),
            cpu=1.8e6,
            dram=3.6e5,
            other=1.8e5,
            pue=1.5,
        ),
    )
    save_result(session, chemistry, _figures(7.2e6, 500.0, EnergyMethod.ESTIMATED, pue=1.2))
    save_result(session, debug, _figures(1.0e6, 100.0, EnergyMethod.INTEGRATED))
    add_intervals(
        session,
        [
            NewInterval(
                running,
                node.id,
                gpu.id,
                start,
                start + timedelta(minutes=5),
                6e4,
                EnergyMethod.COUNTER,
                Sharing.EXCLUSIVE,
                cap_w=cap_w,
            )
            for start, cap_w in (
                (NOW - timedelta(minutes=15), 250.0),
                (NOW - timedelta(minutes=10), 180.0),
                (NOW - timedelta(minutes=25), 300.0),
            )
        ],
    )
    record_decision(
        session,
        CapDecisionRecord(
            running,
            None,
            NOW - timedelta(minutes=10),
            NOW + timedelta(minutes=5),
            180.0,
            "carbon",
            "dirty grid",
            NOW - timedelta(minutes=10),
        ),
    )
    record_budget_action(
        session,
        BudgetActionRecord(
            chemistry,
            BudgetAction.CANCEL,
            ended,
            BudgetKind.CO2E,
            400.0,
            600.0,
            550.0,
            650.0,
            0.5,
            "forecast 600g > budget 400g",
            BudgetOutcome.DONE,
            None,
        ),
    )
    request_comment(session, physics, NOW)
    failed = request_comment(session, chemistry, NOW)
    record_comment_attempt(session, failed.id, now=NOW, error="sacctmgr: denied", give_up=True)
    issued = NOW - timedelta(hours=3)
    add_ci_points(
        session,
        [
            _ci(NOW - timedelta(hours=2), 35.0, CiKind.ACTUAL, NOW - timedelta(hours=2)),
            _ci(NOW - timedelta(hours=1), 40.0, CiKind.ACTUAL, NOW - timedelta(hours=1)),
            *(_ci(NOW + timedelta(hours=h), 100.0 + h, CiKind.FORECAST, issued) for h in range(25)),
        ],
    )
    session.commit()


def _scrape(factory: SessionFactory, poller: IntensityPoller | None = None) -> Samples:
    endpoint = MetricsEndpoint(factory, lambda: NOW, PipelineMetrics(), poller)
    return samples_of(generate_latest(endpoint.registry).decode())


def test_accounted_counters_equal_the_reports_totals(
    session: Session, factory: SessionFactory
) -> None:
    _store(session)
    samples = _scrape(factory)
    overall = totals(session, ReportQuery())[0]
    energy = "slurm_carbon_energy_joules_total"
    assert _sum(samples, energy, device_kind="gpu") == pytest.approx(overall.gpu_energy_j)
    assert _sum(samples, energy, device_kind="cpu") == pytest.approx(overall.cpu_energy_j)
    assert _sum(samples, energy, device_kind="dram") == pytest.approx(overall.dram_energy_j)
    assert _sum(samples, energy, device_kind="other") == pytest.approx(overall.other_energy_j)
    assert _sum(samples, energy) == pytest.approx(overall.device_energy_j)
    assert _sum(samples, "slurm_carbon_emissions_grams_total") == pytest.approx(overall.co2e_g)
    assert _sum(samples, "slurm_carbon_facility_energy_joules_total") == pytest.approx(
        overall.facility_energy_j
    )
    emissions = "slurm_carbon_emissions_grams_total"
    for group in totals(session, ReportQuery(), by="partition"):
        partition = group.key or ""
        assert _sum(samples, emissions, partition=partition) == pytest.approx(group.co2e_g)
        assert value_of(
            samples, "slurm_carbon_jobs_accounted_total", cluster="tc", partition=partition
        ) == (group.jobs - group.pending_jobs)
    # The figures themselves, so that a metric and the report cannot be wrong together.
    assert overall.co2e_g == pytest.approx(1500.0)
    assert value_of(
        samples, energy, cluster="tc", partition="gpu", account="phys", device_kind="cpu"
    ) == pytest.approx(1.8e6)
    assert value_of(
        samples,
        "slurm_carbon_facility_energy_joules_total",
        cluster="tc",
        partition="gpu",
        account="phys",
    ) == pytest.approx((3.6e6 + 1.8e6 + 3.6e5 + 1.8e5) * 1.5)
    assert (
        value_of(samples, "slurm_carbon_jobs_accounted_total", cluster="tc", partition="gpu") == 2
    )
    assert value_of(samples, "slurm_carbon_jobs_accounted_total", cluster="tc", partition="") == 1
    # Emissions by device kind: a result settled before revision 0020 counts as unsplit,
    # so that the kinds of every account add up to the report's total for it.
    for group in totals(session, ReportQuery(), by="account"):
        assert _sum(samples, emissions, account=group.key or "") == pytest.approx(group.co2e_g)
    physics = {"cluster": "tc", "partition": "gpu", "account": "phys"}
    assert [
        value_of(samples, emissions, **physics, device_kind=kind)
        for kind in ("gpu", "cpu", "dram", "other", UNSPLIT)
    ] == [500.0, 250.0, 100.0, 50.0, 0.0]
    chemistry = {"cluster": "tc", "partition": "gpu", "account": "chem"}
    assert value_of(samples, emissions, **chemistry, device_kind=UNSPLIT) == 500.0
    assert value_of(samples, emissions, **chemistry, device_kind="gpu") == 0.0


def test_quality_budget_and_writer_figures(session: Session, factory: SessionFactory) -> None:
    _store(session)
    samples = _scrape(factory)
    quality = "slurm_carbon_energy_quality_joules_total"
    assert value_of(samples, quality, quality="counter") == pytest.approx(5.94e6)
    assert value_of(samples, quality, quality="estimated") == pytest.approx(7.2e6)
    assert value_of(samples, quality, quality="integrated") == pytest.approx(1.0e6)
    assert (
        value_of(samples, "slurm_carbon_budget_actions_total", action="cancel", outcome="done") == 1
    )
    assert value_of(samples, "slurm_carbon_comment_writes", state="pending") == 1
    assert value_of(samples, "slurm_carbon_comment_writes", state="failed") == 1


def test_grid_intensity_now_and_ahead(session: Session, factory: SessionFactory) -> None:
    _store(session)
    samples = _scrape(factory)
    name = "slurm_carbon_grid_intensity_grams_per_kwh"
    assert value_of(samples, name, region="SE", kind="actual") == 40.0
    assert value_of(samples, name, region="SE", kind="forecast_1h") == 101.0
    assert value_of(samples, name, region="SE", kind="forecast_6h") == 106.0
    assert value_of(samples, name, region="SE", kind="forecast_24h") == 124.0


def test_caps_and_node_reports(session: Session, factory: SessionFactory) -> None:
    _store(session)
    samples = _scrape(factory)
    # A decision for every GPU of a job that requested two.
    assert value_of(samples, "slurm_carbon_gpus_capped", cluster="tc") == 2
    # The latest interval's limit, not the largest nor the last inserted.
    assert (
        value_of(samples, "slurm_carbon_gpu_power_limit_watts", cluster="tc", node="gpu01", gpu="0")
        == 180.0
    )
    # Its latest interval ended 5 minutes before the scrape.
    assert (
        value_of(samples, "slurm_carbon_node_last_report_age_seconds", cluster="tc", node="gpu01")
        == 300.0
    )


def test_node_health_as_its_agent_reported_it_last(
    session: Session, factory: SessionFactory
) -> None:
    _store(session)
    record_node_health(session, "tc", "gpu01", NodeHealth(40, 2, NOW))
    record_node_health(session, "tc", "gpu01", NodeHealth(12, 3, NOW))
    session.commit()
    samples = _scrape(factory)
    assert (
        value_of(samples, "slurm_carbon_node_spool_backlog_rows", cluster="tc", node="gpu01") == 12
    )
    assert value_of(samples, "slurm_carbon_node_dead_letters", cluster="tc", node="gpu01") == 3


def test_a_node_without_health_has_no_health_series(
    session: Session, factory: SessionFactory
) -> None:
    _store(session)
    samples = _scrape(factory)
    assert not [name for name, _ in samples if "spool" in name or "dead_letters" in name]


def test_an_empty_store_exports_zeros_for_the_label_sets_known_in_advance(
    empty_db: Callable[[str], str],
) -> None:
    url = empty_db("metrics")  # not the shared test database, which other tests may fill
    upgrade(url)
    engine = make_engine(url)
    try:
        samples = _scrape(session_factory(engine))
    finally:
        engine.dispose()
    # Series that exist from the start, at 0, so that rate() and alerts see their first change.
    zeros = {
        (
            "slurm_carbon_energy_quality_joules_total",
            "quality",
            ("counter", "integrated", "estimated"),
        ),
        ("slurm_carbon_comment_writes", "state", ("pending", "written", "failed")),
        ("slurm_carbon_ingest_intervals_total", "result", ("stored", "duplicate")),
    }
    for name, label, values in zeros:
        for value in values:
            assert value_of(samples, name, **{label: value}) == 0
    for action in ("notify", "cancel"):
        for outcome in ("pending", "done", "failed"):
            assert (
                value_of(
                    samples, "slurm_carbon_budget_actions_total", action=action, outcome=outcome
                )
                == 0
            )
    assert value_of(samples, "slurm_carbon_ingest_batch_seconds_count") == 0
    # Nothing accounted, nothing measured: no cluster, partition, region or node to name.
    assert not [name for name, _ in samples if "energy_joules" in name or "emissions" in name]
    assert not [name for name, _ in samples if "intensity_grams" in name or "node_" in name]


def test_a_cluster_without_caps_has_zero_gpus_capped(
    session: Session, factory: SessionFactory
) -> None:
    _store(session)
    get_or_create_cluster(session, "other")
    session.commit()
    samples = _scrape(factory)
    assert value_of(samples, "slurm_carbon_gpus_capped", cluster="other") == 0
    assert value_of(samples, "slurm_carbon_gpus_capped", cluster="tc") == 2


class _Down:
    """A provider that never answers."""

    name = "down"

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        raise IntensityUnavailable(f"{region}: down")

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        raise IntensityUnavailable(f"{region}: down")


def test_failed_polls_are_counted_by_region(factory: SessionFactory) -> None:
    poller = IntensityPoller(factory, _Down(), ["SE", "DE"], clock=lambda: NOW)
    poller.poll_once()
    poller.poll_once()
    samples = _scrape(factory, poller)
    assert value_of(samples, "slurm_carbon_intensity_poll_errors_total", region="SE") == 2
    assert value_of(samples, "slurm_carbon_intensity_poll_errors_total", region="DE") == 2


def test_every_family_is_one_of_metrics(session: Session, factory: SessionFactory) -> None:
    _store(session)
    endpoint = MetricsEndpoint(factory, lambda: NOW, PipelineMetrics())
    collected = {family.name for family in endpoint.registry.collect()}
    assert collected == {spec.name for spec in METRICS}


class _TwoHours:
    """200 gCO2e/kWh in the hour from ``start``, 50 in the next (a job's CI provider)."""

    name = "two-hours"
    start = NOW - timedelta(hours=6)

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        return [
            _ci(self.start + timedelta(hours=h), ci, CiKind.ACTUAL, self.start)
            for h, ci in ((0, 200.0), (1, 50.0))
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable("no forecast")


def test_emissions_by_device_kind_are_the_footprints(
    session: Session, factory: SessionFactory
) -> None:
    """A job settled by the writer's path: its GPU ran in the dirty hour, its CPU in the clean
    one, so an energy-share split of its CO2e would be wrong by a factor of 2.5."""
    _store(session)
    start = _TwoHours.start
    rows = [
        StoredInterval("gpu01", "GPU-1", DeviceKind.GPU, start, start + HOUR, 3.6e6, *_MEASURED),
        StoredInterval(
            "gpu01", "cpu0", DeviceKind.CPU, start + HOUR, start + 2 * HOUR, 3.6e6, *_MEASURED
        ),
    ]
    job = slurm_job(6, cluster="tc", partition="gpu", account="bio", node_list="gpu01")
    site = StaticSite("SE", pue=1.25)
    row = store_job(session, job)
    save_result(session, row, compute_result(job, rows, site, _TwoHours(), NOW).values)
    session.commit()
    spans = [EnergySpan(r.kind, r.start, r.end, r.energy_j, *_MEASURED) for r in rows]
    expected = footprint(spans, _TwoHours().history("SE", start, NOW), 1.25)

    samples = _scrape(factory)

    bio = {"cluster": "tc", "partition": "gpu", "account": "bio"}
    for kind in DeviceKind:
        assert value_of(
            samples, "slurm_carbon_emissions_grams_total", **bio, device_kind=kind.value
        ) == pytest.approx(expected.co2e_g_by_kind[kind])
    assert value_of(
        samples, "slurm_carbon_emissions_grams_total", **bio, device_kind="gpu"
    ) == pytest.approx(1.25 * 200)
    assert value_of(
        samples, "slurm_carbon_emissions_grams_total", **bio, device_kind="cpu"
    ) == pytest.approx(1.25 * 50)
    assert _sum(samples, "slurm_carbon_emissions_grams_total", **bio) == pytest.approx(
        expected.co2e_g
    )
