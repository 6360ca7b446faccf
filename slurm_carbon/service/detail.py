"""One job in detail: its figures, split, time course, what-ifs and energy card.

:func:`job_detail` gathers everything ``slurm-carbon report -j ID`` shows (and
what a JSON API or the dashboard would show of one job) into a plain
:class:`JobDetail`: the stored result, the GPU/CPU/DRAM/other split, energy
and carbon intensity over time, and, recomputed from the stored intervals as
the writer computes the result (:func:`~slurm_carbon.service.results.stored_footprint`),
the cleanest start in the following hours, the same job in other regions, the
publication energy card, and whether the recomputation differs from the
stored result. A running job also gets its forecast
(:func:`~slurm_carbon.service.job_forecast.forecast_stored`: so far, remaining
and total with 90 % intervals) beside the budgets its owner gave. Any job
shows the power caps decided for its GPUs (:func:`job_caps`), in order.

Units: energy in joules, carbon intensity in gCO2e/kWh, emissions in gCO2e.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from slurm_carbon import accounting as acc
from slurm_carbon.config import CounterfactualConfig
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import IntensityProvider
from slurm_carbon.service.job_forecast import JobForecast, forecast_stored
from slurm_carbon.service.results import (
    JobFootprint,
    NoEnergy,
    job_coverage,
    stored_footprint,
)
from slurm_carbon.service.site import Site, StaticSite
from slurm_carbon.store import Session
from slurm_carbon.store.caps import CapDecisionRecord, cap_timeline
from slurm_carbon.store.deferrals import DeferralRecord, job_deferral
from slurm_carbon.store.intensity import ci_series
from slurm_carbon.store.reports import JobRow, TimelinePoint, job_timeline
from slurm_carbon.store.results import StoredInterval, job_intervals
from slurm_carbon.vocabulary import DeviceKind

__all__ = [
    "MAX_TIMELINE_STEPS",
    "RECOMPUTED_TOLERANCE",
    "Counterfactuals",
    "DetailContext",
    "EnergyShare",
    "JobDetail",
    "NodeEnergy",
    "Recomputed",
    "RunningForecast",
    "job_caps",
    "job_detail",
    "job_nodes",
    "node_split",
    "running_forecast",
]

#: Steps of the energy-over-time series at most; longer jobs are merged into longer steps.
MAX_TIMELINE_STEPS = 48

#: Relative difference between the recomputed and the stored CO2e that counts as differing.
RECOMPUTED_TOLERANCE = 1e-6


@dataclass(frozen=True)
class DetailContext:
    """What a job's footprint is recomputed with, as the writer computed it.

    Attributes:
        counterfactual: The cleanest-start window and the other regions.
        intensity: Carbon intensity (the stored series first, as the writer).
        site: The site's regions, PUE and unmeasured parts; None: the stored
            result's region and PUE (no unmeasured parts).
        now: The time a running job's forecast is made at; None: no forecast.
    """

    counterfactual: CounterfactualConfig
    intensity: IntensityProvider
    site: Site | None = None
    now: datetime | None = None


@dataclass(frozen=True)
class EnergyShare:
    """A device kind's part of the job's energy at the devices.

    Attributes:
        kind: The device kind (``other``: the node's unmeasured parts).
        energy_j: Its energy. Units: joules.
        share_pct: Its share of the energy at the devices. Units: percent.
    """

    kind: DeviceKind
    energy_j: float
    share_pct: float


@dataclass(frozen=True)
class NodeEnergy:
    """One node's part of the job's measured energy: what its agent reported.

    Attributes:
        node: The node's name.
        energy_j: The energy of its devices in the job's intervals. Units: joules.
        gpu_energy_j: Of which its GPUs'. Units: joules.
        share_pct: Its share of the job's measured energy. Units: percent.
        co2e_g: Its share of the job's CO2e, by energy (None: no result). Units: grams CO2e.
        coverage_pct: The share of the job's run time its intervals cover, 0 for a
            node that reported nothing (None: the job's node list or start is not
            known). Units: percent.
    """

    node: str
    energy_j: float
    gpu_energy_j: float
    share_pct: float
    co2e_g: float | None = None
    coverage_pct: float | None = None


def node_split(
    intervals: list[StoredInterval],
    coverage: acc.JobCoverage | None = None,
    *,
    co2e_g: float | None = None,
) -> tuple[NodeEnergy, ...]:
    """The job's measured energy node by node, by node name; () without intervals.

    With the job's ``coverage``, its nodes that reported nothing are listed too
    (no energy, 0 % covered); with its result's ``co2e_g``, each node's share of it.
    """
    energy_j: dict[str, float] = {}
    gpu_j: dict[str, float] = {}
    for interval in intervals:
        energy_j[interval.node] = energy_j.get(interval.node, 0.0) + interval.energy_j
        if interval.kind is DeviceKind.GPU:
            gpu_j[interval.node] = gpu_j.get(interval.node, 0.0) + interval.energy_j
    covered = {} if coverage is None else {n.node: n.share * 100 for n in coverage.nodes}
    if energy_j:
        energy_j.update(dict.fromkeys(covered.keys() - energy_j.keys(), 0.0))
    total_j = sum(energy_j.values())
    return tuple(
        NodeEnergy(
            node,
            joules,
            gpu_j.get(node, 0.0),
            joules / total_j * 100 if total_j else 0.0,
            None if co2e_g is None else co2e_g * joules / total_j if total_j else 0.0,
            covered.get(node),
        )
        for node, joules in sorted(energy_j.items())
    )


@dataclass(frozen=True)
class Counterfactuals:
    """The cleanest start and other regions, on the stored series of the result's source.

    Attributes:
        region: The job's carbon-intensity region.
        source: The carbon-intensity source of the stored result.
        window_h: How far after the actual start a cleaner one was looked for. Units: hours.
        actual_start: When the job's energy profile starts.
        cleanest: The cleanest start (its ``start`` is ``actual_start`` when
            none is cleaner); None: no stored series of ``region`` and
            ``source`` covers the job.
        other_regions: The same job in the configured other regions that have
            a stored series of ``source``, cleanest first.
    """

    region: str
    source: str
    window_h: float
    actual_start: datetime
    cleanest: acc.Counterfactual | None
    other_regions: list[acc.Counterfactual]


@dataclass(frozen=True)
class Recomputed:
    """The job's footprint recomputed from its stored intervals, and what it gives.

    Attributes:
        co2e_g: The recomputed emissions. Units: grams CO2e.
        stored_co2e_g: The stored result's emissions. Units: grams CO2e.
        differs: Whether they differ from the stored result (the site
            configuration or the stored carbon intensity changed since).
        counterfactuals: The cleanest start and other regions.
        card: The publication energy card of the recomputed figures.
    """

    co2e_g: float
    stored_co2e_g: float
    differs: bool
    counterfactuals: Counterfactuals
    card: acc.EnergyCard


@dataclass(frozen=True)
class RunningForecast:
    """A running job's forecast, or why there is none, and its budgets.

    Attributes:
        forecast: The forecast; None when it cannot be made.
        not_forecast: Why not (no progress reported, no energy, no carbon
            intensity, no site configuration); None when there is a forecast.
        budget_co2e_g: The CO2e budget its owner gave; None: none. Units: grams CO2e.
        budget_energy_j: The energy budget; None: none. Units: joules.
    """

    forecast: JobForecast | None
    not_forecast: str | None
    budget_co2e_g: float | None = None
    budget_energy_j: float | None = None

    @property
    def co2e_budget_pct(self) -> float | None:
        """The forecast total emissions as a share of the CO2e budget. Units: percent."""
        if self.forecast is None or not self.budget_co2e_g:
            return None
        return self.forecast.total_co2e_g / self.budget_co2e_g * 100

    @property
    def energy_budget_pct(self) -> float | None:
        """The forecast total energy (at the devices) as a share of the energy budget (percent)."""
        if self.forecast is None or not self.budget_energy_j:
            return None
        return self.forecast.total_energy_j / self.budget_energy_j * 100


@dataclass(frozen=True)
class JobDetail:
    """Everything shown of one job.

    Attributes:
        job: The job and its stored result (``job.figures``, None: pending).
        split: Energy by device kind (``other`` only when there is some); empty
            without a result.
        timeline: Energy by device kind and the carbon intensity then, per
            interval, merged into at most ``max_steps`` steps.
        recomputed: The recomputation; None when the job has no result with a
            region and source, or when it cannot be recomputed.
        not_recomputed: Why it cannot be recomputed (no energy, no carbon
            intensity); None otherwise.
        running: A running job's forecast and budgets; None for any other job.
        caps: The power caps decided for its GPUs, by period start.
        deferral: Its ``carbon_defer`` decision and measured saving; None when not deferred.
        nodes: Its measured energy node by node (the figures are their sum).
    """

    job: JobRow
    split: list[EnergyShare]
    timeline: list[TimelinePoint]
    recomputed: Recomputed | None = None
    not_recomputed: str | None = None
    running: RunningForecast | None = None
    caps: tuple[CapDecisionRecord, ...] = ()
    deferral: DeferralRecord | None = None
    nodes: tuple[NodeEnergy, ...] = ()

    @property
    def forecast(self) -> JobForecast | None:
        """A running job's forecast; None for any other job, or when none can be made."""
        return None if self.running is None else self.running.forecast


def job_detail(
    session: Session,
    row: JobRow,
    context: DetailContext,
    *,
    max_steps: int = MAX_TIMELINE_STEPS,
) -> JobDetail:
    """One job in detail, from the store.

    Args:
        session: An open session.
        row: The job, as the report lists it.
        context: What the footprint is recomputed with.
        max_steps: The most steps of the timeline.

    Returns:
        The detail; nothing is written.
    """
    detail = _detail(session, row, context, max_steps)
    return replace(
        detail,
        running=running_forecast(session, row, context),
        caps=job_caps(session, row),
        deferral=job_deferral(session, row.row_id),
        nodes=job_nodes(session, row),
    )


def job_nodes(session: Session, row: JobRow) -> tuple[NodeEnergy, ...]:
    """The job's energy node by node, with its coverage and, with a result, its CO2e."""
    intervals = job_intervals(session, row.row_id)
    figures = row.figures
    end = row.end_time or (None if figures is None else figures.computed_at)
    coverage = (
        None
        if end is None
        else job_coverage(intervals, node_list=row.node_list, run=(row.start_time, end))
    )
    return node_split(intervals, coverage, co2e_g=None if figures is None else figures.co2e_g)


def job_caps(session: Session, row: JobRow) -> tuple[CapDecisionRecord, ...]:
    """The power caps decided for the job's GPUs, by period start (running or ended).

    Back-to-back periods with the same limit, policy and GPU are one run (the
    first's reason and decision time, the last's end): a month at one static cap
    is one row, not one per period.
    """
    runs: list[CapDecisionRecord] = []
    open_run: dict[str | None, int] = {}  # the run each GPU is in, by index in runs
    for cap in cap_timeline(session, row.row_id):
        at = open_run.get(cap.device)
        if at is not None and _continues(runs[at], cap):
            runs[at] = replace(runs[at], period_end=cap.period_end)
            continue
        open_run[cap.device] = len(runs)
        runs.append(cap)
    return tuple(runs)


def _continues(run: CapDecisionRecord, cap: CapDecisionRecord) -> bool:
    """Whether ``cap`` starts where ``run`` ends, with the same limit and policy."""
    return run.period_end == cap.period_start and (run.power_limit_w, run.policy) == (
        cap.power_limit_w,
        cap.policy,
    )


def running_forecast(
    session: Session, row: JobRow, context: DetailContext
) -> RunningForecast | None:
    """The forecast of a running job (started, not ended) at ``context.now``; None otherwise.

    The region and PUE are the site's (``context.site``), else the stored
    result's, if any.
    """
    if row.start_time is None or row.end_time is not None or context.now is None:
        return None
    budgets = (row.budget_co2e_g, row.budget_energy_j)
    figures = row.figures
    site = context.site
    if site is None and figures is not None and figures.ci_region is not None:
        site = StaticSite(figures.ci_region, figures.pue)
    if site is None:
        return RunningForecast(None, "no site configuration (--config) gives its region", *budgets)
    try:
        forecast = forecast_stored(
            session,
            row.row_id,
            label=row.job_id_text,
            partition=row.partition or "",
            node_list=row.node_list,
            start=row.start_time,
            time_limit_s=row.time_limit_s,
            site=site,
            intensity=context.intensity,
            now=context.now,
        )
    except (NoEnergy, IntensityUnavailable) as err:
        return RunningForecast(None, str(err), *budgets)
    return RunningForecast(forecast, None, *budgets)


def _detail(session: Session, row: JobRow, context: DetailContext, max_steps: int) -> JobDetail:
    timeline = _merged(job_timeline(session, row), max_steps)
    figures = row.figures
    if figures is None:
        return JobDetail(row, [], timeline)
    device_j = figures.device_energy_j
    split = [
        EnergyShare(kind, energy_j, energy_j / device_j * 100 if device_j else 0.0)
        for kind, energy_j in (
            (DeviceKind.GPU, figures.gpu_energy_j),
            (DeviceKind.CPU, figures.cpu_energy_j),
            (DeviceKind.DRAM, figures.dram_energy_j),
            (DeviceKind.OTHER, figures.other_energy_j),
        )
        if kind is not DeviceKind.OTHER or energy_j
    ]
    detail = JobDetail(row, split, timeline)
    if figures.ci_region is None or figures.ci_source is None:
        return detail
    site = context.site or StaticSite(figures.ci_region, figures.pue)
    try:
        found = stored_footprint(
            session,
            row.row_id,
            label=row.job_id_text,
            partition=row.partition or "",
            node_list=row.node_list,
            run=(row.start_time, row.end_time or figures.computed_at),
            site=site,
            intensity=context.intensity,
        )
    except (NoEnergy, IntensityUnavailable) as err:
        return JobDetail(row, split, timeline, not_recomputed=str(err))
    stored_g, now_g = figures.co2e_g, found.figures.co2e_g
    gpus = [r for r in job_intervals(session, row.row_id) if r.kind is DeviceKind.GPU]
    models = sorted({r.device_model for r in gpus if r.device_model})
    card = acc.energy_card(
        found.figures,
        title=row.name or f"job {row.job_id_text}",
        accelerator=", ".join(models) or "n/a",
        accelerator_count=row.requested_gpus,
        region=found.region,
    )
    recomputed = Recomputed(
        co2e_g=now_g,
        stored_co2e_g=stored_g,
        differs=abs(now_g - stored_g) > RECOMPUTED_TOLERANCE * max(abs(stored_g), 1.0),
        counterfactuals=_counterfactuals(session, found, figures.ci_source, context.counterfactual),
        card=card,
    )
    return JobDetail(row, split, timeline, recomputed=recomputed)


def _merged(timeline: list[TimelinePoint], max_steps: int) -> list[TimelinePoint]:
    """The timeline in at most ``max_steps`` steps of equally many intervals."""
    if not timeline:
        return []
    size = math.ceil(len(timeline) / max_steps)
    return [_merge(timeline[i : i + size]) for i in range(0, len(timeline), size)]


def _merge(points: list[TimelinePoint]) -> TimelinePoint:
    """Consecutive points as one: energies summed, the CI energy-weighted."""
    energy_j = [p.gpu_energy_j + p.cpu_energy_j + p.dram_energy_j for p in points]
    weighted = [(e, p.ci_g_per_kwh) for e, p in zip(energy_j, points, strict=True)]
    known = [(e, ci) for e, ci in weighted if ci is not None]
    total = sum(e for e, _ in known)
    if known and total > 0:
        ci: float | None = sum(e * c for e, c in known) / total
    else:
        ci = known[0][1] if known else None
    return TimelinePoint(
        points[0].start,
        points[-1].end,
        sum(p.gpu_energy_j for p in points),
        sum(p.cpu_energy_j for p in points),
        sum(p.dram_energy_j for p in points),
        ci,
    )


def _counterfactuals(
    session: Session, found: JobFootprint, source: str, config: CounterfactualConfig
) -> Counterfactuals:
    """The cleanest start and other regions, on the stored series of the result's source."""
    region, spans = found.region, found.spans
    first = min(span.start for span in spans)
    last = max(span.end for span in spans)
    window = timedelta(hours=config.window_h)
    points = ci_series(session, region, source, first, last + window)
    if not points or not acc.best_timeline(points).covers(first, last):
        return Counterfactuals(region, source, config.window_h, first, None, [])
    cleanest = acc.cleanest_start(
        spans, points, found.pue, config.window_h, timedelta(minutes=config.step_min)
    )
    regions = {}
    for other in config.regions:
        if other != region:
            series = ci_series(session, other, source, first, last)
            if series:
                regions[other] = series
    others = acc.in_region(spans, points, found.pue, regions) if regions else []
    return Counterfactuals(region, source, config.window_h, first, cleanest, others)
