"""``GET /metrics``: Prometheus metrics, computed from the store when scraped.

A custom collector (:class:`StoreCollector`) on a registry of the app's own
reads the store at every scrape, so every replica, and a replica after a
restart, says the same; there are no per-job labels, only clusters,
partitions, accounts, regions, nodes and GPUs, whose numbers the site bounds.
The accounted counters sum the stored results as ``slurm-carbon report``
does, so their sum equals the report's totals. Only the ingest figures
(:class:`PipelineMetrics`) and the carbon-intensity poller's failures are the
process's own and start from zero at a restart; Prometheus's ``rate()`` takes
that in its stride.

:data:`METRICS` is the one list of what is exported: the collector builds every
family from it, the README lists it, and the Grafana dashboard's test checks its
queries against it. Names follow Prometheus's conventions: base units
(joules, grams, seconds, watts), ``_total`` on counters (which prometheus_client
appends to the family names here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.ci_forecast import FORECAST_HORIZON, ci_ahead
from slurm_carbon.service.poller import IntensityPoller
from slurm_carbon.store import CommentWriteState, Session, SessionFactory, transaction
from slurm_carbon.store.metrics import (
    accounted_groups,
    budget_action_counts,
    capped_gpus,
    ci_regions,
    comment_write_counts,
    energy_by_quality,
    gpu_limits,
    latest_actual_ci,
    node_last_reports,
)
from slurm_carbon.vocabulary import (
    STORED_BUDGET_ACTIONS,
    UNSPLIT,
    BudgetOutcome,
    CiKind,
    EnergyMethod,
)

__all__ = [
    "FORECAST_HOURS",
    "INGEST_BUCKETS_S",
    "METRICS",
    "MetricSpec",
    "MetricsEndpoint",
    "PipelineMetrics",
    "StoreCollector",
]

#: Hours ahead at which the expected carbon intensity is exported (``kind="forecast_<h>h"``):
#: the next hour, a working shift, and a day, the horizon of our own forecast.
FORECAST_HOURS = (1, 6, int(FORECAST_HORIZON.total_seconds()) // 3600)
#: Buckets of the ingest latency histogram, in seconds: a batch of a few intervals takes
#: milliseconds, the largest allowed (MAX_INTERVALS) about a second on SQLite.
INGEST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Kind = Literal["counter", "gauge", "histogram"]
# The result label of the ingested intervals.
_STORED, _DUPLICATE = "stored", "duplicate"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exported metric: its name (a counter's without ``_total``), type, labels, meaning."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names its samples carry in the exposition (what a query names)."""
        suffixes = {
            "counter": ("_total", "_created"),
            "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
        }[self.kind]
        return tuple(self.name + suffix for suffix in suffixes)


_GROUP = ("cluster", "partition", "account")
ENERGY = MetricSpec(
    "slurm_carbon_energy_joules",
    "counter",
    (*_GROUP, "device_kind"),
    "Energy of the accounted jobs at their devices, before PUE (device_kind other: "
    "the share of unmeasured node parts).",
)
FACILITY = MetricSpec(
    "slurm_carbon_facility_energy_joules",
    "counter",
    _GROUP,
    "Energy the facility drew for the accounted jobs: device energy times PUE.",
)
EMISSIONS = MetricSpec(
    "slurm_carbon_emissions_grams",
    "counter",
    (*_GROUP, "device_kind"),
    "Emissions of the accounted jobs, grams CO2e (after PUE), each device kind's energy at "
    f"its own carbon intensity (device_kind {UNSPLIT}: results settled before revision 0020, "
    "known only whole).",
)
JOBS = MetricSpec(
    "slurm_carbon_jobs_accounted", "counter", ("cluster", "partition"), "Jobs with a result."
)
QUALITY = MetricSpec(
    "slurm_carbon_energy_quality_joules",
    "counter",
    ("quality",),
    "Device energy of the accounted jobs by the weakest method behind each job's figures "
    "(counter, integrated, estimated).",
)
INTENSITY = MetricSpec(
    "slurm_carbon_grid_intensity_grams_per_kwh",
    "gauge",
    ("region", "kind"),
    "Grid carbon intensity, gCO2e/kWh: kind actual is the latest actual value; "
    "forecast_<h>h what is expected h hours from now (a provider's forecast, else ours, "
    "else the last actual carried).",
)
CAPPED = MetricSpec(
    "slurm_carbon_gpus_capped",
    "gauge",
    ("cluster",),
    "GPUs of running jobs under a power-cap decision in force.",
)
LIMIT = MetricSpec(
    "slurm_carbon_gpu_power_limit_watts",
    "gauge",
    ("cluster", "node", "gpu"),
    "Power limit a running job's GPU last reported (gpu: its minor number).",
)
BUDGET = MetricSpec(
    "slurm_carbon_budget_actions",
    "counter",
    ("action", "outcome"),
    "Actions taken on jobs whose forecast exceeded their budget.",
)
WRITES = MetricSpec(
    "slurm_carbon_comment_writes",
    "gauge",
    ("state",),
    "AdminComment writes by state: pending is the writer's backlog, failed the ones given up.",
)
NODE_AGE = MetricSpec(
    "slurm_carbon_node_last_report_age_seconds",
    "gauge",
    ("cluster", "node"),
    "Seconds since the end of the latest interval a node reported.",
)
NODE_BACKLOG = MetricSpec(
    "slurm_carbon_node_spool_backlog_rows",
    "gauge",
    ("cluster", "node"),
    "Rows (intervals and progress points) waiting in a node agent's spool besides the batch "
    "that reported it, as of its latest batch.",
)
NODE_DEAD_LETTERS = MetricSpec(
    "slurm_carbon_node_dead_letters",
    "gauge",
    ("cluster", "node"),
    "Batches a node agent keeps as dead letters (refused by the service, never retried), "
    "as of its latest batch.",
)
INGESTED = MetricSpec(
    "slurm_carbon_ingest_intervals",
    "counter",
    ("result",),
    "Intervals received by this process in accepted batches: stored, or duplicate "
    "(sent before, ignored).",
)
INGEST_LATENCY = MetricSpec(
    "slurm_carbon_ingest_batch_seconds",
    "histogram",
    (),
    "Time this process took to handle an accepted batch, from the request to the answer.",
)
POLL_ERRORS = MetricSpec(
    "slurm_carbon_intensity_poll_errors",
    "counter",
    ("region",),
    "Carbon-intensity polls of a region by this process that failed in part or whole.",
)

# Read from the store: sums of what was accounted, then the state now.
_ACCOUNTED = (ENERGY, FACILITY, EMISSIONS, JOBS, QUALITY, BUDGET)
_STATE = (INTENSITY, CAPPED, LIMIT, WRITES, NODE_AGE, NODE_BACKLOG, NODE_DEAD_LETTERS)
#: Every metric the service exports: read from the store, then the process's own.
METRICS = (*_ACCOUNTED, *_STATE, INGESTED, INGEST_LATENCY, POLL_ERRORS)


class PipelineMetrics:
    """The process's own ingest figures: intervals ingested and batch latency."""

    def __init__(self) -> None:
        self.intervals = Counter(INGESTED.name, INGESTED.help, INGESTED.labels, registry=None)
        self.latency = Histogram(
            INGEST_LATENCY.name, INGEST_LATENCY.help, registry=None, buckets=INGEST_BUCKETS_S
        )
        for result in (_STORED, _DUPLICATE):
            self.intervals.labels(result=result)  # at 0 from the start

    def batch(self, received: int, stored: int, seconds: float) -> None:
        """Count an accepted batch. Units: ``seconds`` it took."""
        self.intervals.labels(result=_STORED).inc(stored)
        self.intervals.labels(result=_DUPLICATE).inc(received - stored)
        self.latency.observe(seconds)

    def collect(self) -> Iterator[Metric]:
        """Their families."""
        yield from self.intervals.collect()
        yield from self.latency.collect()


def _family(spec: MetricSpec) -> CounterMetricFamily | GaugeMetricFamily:
    cls = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
    return cls(spec.name, spec.help, labels=spec.labels)


def _at(points: list[CiPoint], at: datetime) -> float | None:
    for point in points:
        if point.time <= at < point.time + timedelta(seconds=point.step_s):
            return point.ci_g_per_kwh
    return None


class StoreCollector(Collector):
    """Reads the store when scraped (in one transaction) and yields every family of :data:`METRICS`.

    Args:
        factory: Sessions on the store.
        clock: The current time, aware UTC.
        pipeline: The process's own ingest figures.
        poller: The process's carbon-intensity poller, if it runs one.
    """

    def __init__(
        self,
        factory: SessionFactory,
        clock: Callable[[], datetime],
        pipeline: PipelineMetrics,
        poller: IntensityPoller | None = None,
    ) -> None:
        self.factory = factory
        self.clock = clock
        self.pipeline = pipeline
        self.poller = poller

    def describe(self) -> Iterator[Metric]:
        """Every family, the store's empty (what a registry checks names with)."""
        for spec in (*_ACCOUNTED, *_STATE, POLL_ERRORS):
            yield _family(spec)
        yield from self.pipeline.collect()

    def collect(self) -> Iterator[Metric]:
        """Every family, read now."""
        now = self.clock()
        with transaction(self.factory) as session:
            families = [*self._accounted(session), *self._state(session, now)]
        yield from families
        yield self._poll_errors()
        yield from self.pipeline.collect()

    def _poll_errors(self) -> Metric:
        family = _family(POLL_ERRORS)
        failures = {} if self.poller is None else dict(self.poller.failures)
        for region, count in sorted(failures.items()):
            family.add_metric([region], count)
        return family

    def _accounted(self, session: Session) -> list[Metric]:
        energy, facility, emissions, jobs, quality, budget = (_family(spec) for spec in _ACCOUNTED)
        per_partition: dict[tuple[str, str], int] = {}
        for group in accounted_groups(session):
            key = [group.cluster, group.partition, group.account]
            for kind, energy_j in group.energy_j.items():
                energy.add_metric([*key, kind.value], energy_j)
            facility.add_metric(key, group.facility_energy_j)
            for kind, co2e_g in group.co2e_g_by_kind.items():
                emissions.add_metric([*key, kind.value], co2e_g)
            emissions.add_metric([*key, UNSPLIT], group.unsplit_co2e_g)
            where = (group.cluster, group.partition)
            per_partition[where] = per_partition.get(where, 0) + group.jobs
        for (cluster, partition), count in per_partition.items():
            jobs.add_metric([cluster, partition], count)
        # Label sets known in advance are there from the start, at 0, so that rate()
        # and alerts see their first change.
        by_quality = energy_by_quality(session)
        for method in EnergyMethod:
            quality.add_metric([method.value], by_quality.get(method.value, 0.0))
        actions = budget_action_counts(session)
        for action in STORED_BUDGET_ACTIONS:
            for outcome in BudgetOutcome:
                count = actions.get((action.value, outcome.value), 0)
                budget.add_metric([action.value, outcome.value], count)
        return [energy, facility, emissions, jobs, quality, budget]

    def _state(self, session: Session, now: datetime) -> list[Metric]:
        intensity, capped, limit, writes, age, backlog, dead = (_family(spec) for spec in _STATE)
        ahead = timedelta(hours=max(FORECAST_HOURS), seconds=1)
        for region in ci_regions(session):
            actual = latest_actual_ci(session, region, now)
            if actual is not None:
                intensity.add_metric([region, CiKind.ACTUAL.value], actual)
            points = ci_ahead(session, region, now, now + ahead, now)
            for hours in FORECAST_HOURS:
                expected = _at(points, now + timedelta(hours=hours))
                if expected is not None:
                    intensity.add_metric([region, f"forecast_{hours}h"], expected)
        for cluster, count in capped_gpus(session, now).items():
            capped.add_metric([cluster], count)
        for gpu in gpu_limits(session, now):
            limit.add_metric([gpu.cluster, gpu.node, gpu.gpu], gpu.limit_w)
        writes_by_state = comment_write_counts(session)
        for state in CommentWriteState:
            writes.add_metric([state.value], writes_by_state.get(state.value, 0))
        for report in node_last_reports(session):
            seconds = (now - report.last_end).total_seconds()
            age.add_metric([report.cluster, report.node], seconds)
            if report.health is not None:
                backlog.add_metric([report.cluster, report.node], report.health.spool_backlog)
                dead.add_metric([report.cluster, report.node], report.health.dead_letters)
        return [intensity, capped, limit, writes, age, backlog, dead]


class MetricsEndpoint:
    """``GET /metrics`` over the store, in Prometheus's text format."""

    def __init__(
        self,
        factory: SessionFactory,
        clock: Callable[[], datetime],
        pipeline: PipelineMetrics,
        poller: IntensityPoller | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(factory, clock, pipeline, poller))

    async def handle(self, request: Request) -> Response:
        """Answer one scrape, in the format its Accept asks for.

        Prometheus's text format 0.0.4 unless it asks for OpenMetrics or text 1.0.0;
        a lost database: 503, by the app's handler.
        """
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        body = await run_in_threadpool(encode, self.registry)
        return Response(body, headers={"Content-Type": content_type})
