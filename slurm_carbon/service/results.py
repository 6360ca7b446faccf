"""A finished job's result: its stored energy x carbon intensity x PUE, stored and as a payload.

:func:`settle_result` takes a job as Slurm's accounting has it (final record),
stores its metadata, computes its figures from its stored intervals, the
carbon-intensity series of its region over the time it ran and the site's
PUE, and replaces its :class:`~slurm_carbon.store.models.JobResult`. It
returns the AdminComment payload (``sc1:co2e_g=...``) to write back.

What is site policy comes in through :class:`~slurm_carbon.service.site.Site`
(region of a partition and node, PUE of a partition at a time) and what gives
carbon intensity through
:class:`~slurm_carbon.intensity.base.IntensityProvider`'s ``history``; which
stored intervals are the job's, :mod:`slurm_carbon.service.intervals`.

Units: energy in joules, carbon intensity in gCO2e/kWh, emissions in gCO2e.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from slurm_carbon import accounting as acc
from slurm_carbon.accounting.admin_comment import BUDGET_NOTE
from slurm_carbon.accounting.budget import BadBudget, Budgets, parse_budgets
from slurm_carbon.errors import IntensityUnavailable, SlurmCarbonError
from slurm_carbon.intensity.base import CiPoint, IntensityProvider
from slurm_carbon.service.capping import job_slowdown
from slurm_carbon.service.deferrals import settle_deferral
from slurm_carbon.service.intervals import energy_spans, own_intervals, unmeasured_spans
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.slurm.hostlist import expand_hostlist
from slurm_carbon.store import Session, budget_action, get_or_create_cluster, upsert_job
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.results import (
    StoredInterval,
    job_intervals,
    jobs_on_node_slots,
    save_result,
)
from slurm_carbon.units import J_PER_KWH, J_PER_WH, round_sig
from slurm_carbon.vocabulary import CiKind, DeviceKind, EnergyMethod, Sharing

__all__ = [
    "Computed",
    "JobFootprint",
    "NoEnergy",
    "ResultNotFinite",
    "compute_result",
    "job_coverage",
    "job_footprint",
    "live_payload",
    "running_footprint",
    "settle_result",
    "store_job",
    "stored_footprint",
]

logger = logging.getLogger(__name__)


class NoEnergy(SlurmCarbonError):
    """No energy interval of the job is stored (yet)."""


class ResultNotFinite(SlurmCarbonError):
    """A job's figures came out infinite or NaN (from absurd stored energies); not written."""


@dataclass(frozen=True)
class Computed:
    """A job's figures and the AdminComment payload that carries them."""

    values: JobFigures
    payload: str


@dataclass(frozen=True)
class JobFootprint:
    """A job's footprint and what it was computed from.

    Attributes:
        region: The carbon-intensity region.
        spans: The job's measured spans and its share of unmeasured node parts.
        points: The carbon-intensity series used.
        pue: The PUE in force at a time.
        figures: The footprint.
        coverage: The share of the job's node-time its intervals cover and its
            silent nodes (None: its node list or start is not known).
    """

    region: str
    spans: list[acc.EnergySpan]
    points: list[CiPoint]
    pue: Callable[[datetime], float]
    figures: acc.Footprint
    coverage: acc.JobCoverage | None = None


def job_footprint(
    partition: str,
    intervals: Sequence[StoredInterval],
    site: Site,
    intensity: IntensityProvider,
    *,
    sharers: Mapping[tuple[str, datetime], int] | None = None,
) -> JobFootprint:
    """The footprint of a job's stored intervals: ``co2e_g = sum_t E_t x CI_t x PUE_t``.

    The one place that turns stored intervals into figures (the writer's
    result, the report's detail view and energy card). The region is the
    site's for the partition and the node of the first interval; the series
    covers the intervals' whole time; the PUE is the partition's at each
    part's start (see :func:`slurm_carbon.accounting.footprint`). Where the
    site configures a fixed power for a node's unmeasured parts, the job's
    share of it (``sharers``: jobs per node and interval start, see
    :func:`~slurm_carbon.store.results.jobs_on_node_slots`) is added as
    estimated ``other`` energy.

    Raises:
        NoEnergy: ``intervals`` is empty.
        IntensityUnavailable: no carbon intensity for the region and time.
    """
    if not intervals:
        raise NoEnergy("no energy stored")
    region = site.region_for(partition, intervals[0].node)
    start = min(row.start for row in intervals)
    end = max(row.end for row in intervals)
    points = list(intensity.history(region, start, end))
    if not points:
        raise IntensityUnavailable(f"no carbon intensity for {region} from {start} to {end}")

    def pue(when: datetime) -> float:
        return site.pue_at(partition, when)

    spans = energy_spans(intervals) + unmeasured_spans(intervals, site, sharers or {})
    return JobFootprint(region, spans, points, pue, acc.footprint(spans, points, pue))


def compute_result(  # noqa: PLR0913 (the job, what is stored of it, and the context)
    job: SlurmJob,
    intervals: Sequence[StoredInterval],
    site: Site,
    intensity: IntensityProvider,
    now: datetime,
    *,
    sharers: Mapping[tuple[str, datetime], int] | None = None,
) -> Computed:
    """The job's figures from its own intervals (``own_intervals``, :func:`job_footprint`).

    Raises:
        NoEnergy: none of ``intervals`` is the job's.
        IntensityUnavailable: no carbon intensity for the job's region and time.
        ResultNotFinite: a figure is infinite or NaN.
    """
    found = _own_footprint(
        job.job_id,
        intervals,
        partition=job.partition,
        node_list=job.node_list,
        run=(job.start_time, job.end_time or now),
        site=site,
        intensity=intensity,
        sharers=sharers,
    )
    return _computed(job.job_id, found, now)


def stored_footprint(  # noqa: PLR0913 (the stored job, as Slurm ran it, and the context)
    session: Session,
    job_id: int,
    *,
    label: str,
    partition: str,
    node_list: str | None,
    run: tuple[datetime | None, datetime],
    site: Site,
    intensity: IntensityProvider,
) -> JobFootprint:
    """The footprint of a stored job (``jobs.id``), as its result is computed.

    The writer's result and the report's detail view and energy card come from
    here: the job's own intervals
    (:func:`~slurm_carbon.service.intervals.own_intervals`; ``run`` is its start,
    None if it never started, and its end or now) and its share of its nodes'
    unmeasured parts, through :func:`job_footprint`.

    Raises:
        NoEnergy: none of the stored intervals is the job's.
        IntensityUnavailable: no carbon intensity for the job's region and time.
    """
    return _own_footprint(
        label,
        job_intervals(session, job_id),
        partition=partition,
        node_list=node_list,
        run=run,
        site=site,
        intensity=intensity,
        sharers=jobs_on_node_slots(session, job_id),
    )


def _own_footprint(  # noqa: PLR0913 (the job's intervals, as Slurm ran it, and the context)
    label: str,
    intervals: Sequence[StoredInterval],
    *,
    partition: str,
    node_list: str | None,
    run: tuple[datetime | None, datetime],
    site: Site,
    intensity: IntensityProvider,
    sharers: Mapping[tuple[str, datetime], int] | None,
) -> JobFootprint:
    kept = own_intervals(label, intervals, node_list=node_list, start=run[0], end=run[1])
    if not kept:
        raise NoEnergy(f"job {label}: no energy stored")
    try:
        found = job_footprint(partition, kept, site, intensity, sharers=sharers)
    except NoEnergy as err:
        raise NoEnergy(f"job {label}: {err}") from err
    return replace(found, coverage=job_coverage(kept, node_list=node_list, run=run))


def job_coverage(
    intervals: Sequence[StoredInterval],
    *,
    node_list: str | None,
    run: tuple[datetime | None, datetime],
) -> acc.JobCoverage | None:
    """The share of the job's node-time (``node_list``, ``run``) ``intervals`` cover.

    None when its node list or start is not known (see :func:`acc.node_coverage`).
    """
    start, end = run
    if not node_list or start is None:
        return None
    spans = (acc.NodeSpan(row.node, row.start, row.end) for row in intervals)
    return acc.node_coverage(expand_hostlist(node_list), spans, start, end)


def _computed(label: str, found: JobFootprint, now: datetime) -> Computed:
    """The stored values and the AdminComment payload of a footprint."""
    figures, coverage = found.figures, found.coverage
    quality = figures.quality
    weakest = quality.weakest_method or EnergyMethod.ESTIMATED
    values = JobFigures(
        gpu_energy_j=figures.gpu_kwh * J_PER_KWH,
        cpu_energy_j=figures.cpu_kwh * J_PER_KWH,
        dram_energy_j=figures.dram_kwh * J_PER_KWH,
        other_energy_j=figures.other_kwh * J_PER_KWH,
        co2e_g=figures.co2e_g,
        ci_mean_g_per_kwh=figures.ci_mean_g_per_kwh,
        ci_region=found.region,
        ci_source=",".join(quality.ci_sources) or None,
        pue=figures.pue if figures.pue is not None else found.pue(found.spans[0].start),
        quality=weakest,
        sharing=Sharing.SHARED if quality.any_shared else Sharing.EXCLUSIVE,
        computed_at=now,
        ci_annual=quality.ci_annual,
        ci_synthetic=quality.ci_synthetic,
        ci_actual_share=quality.ci_kinds.get(CiKind.ACTUAL, 0.0),
        ci_forecast_share=quality.ci_kinds.get(CiKind.FORECAST, 0.0),
        ci_annual_share=quality.ci_kinds.get(CiKind.ANNUAL, 0.0),
        node_coverage=None if coverage is None else coverage.share,
        missing_nodes=None if coverage is None else ",".join(coverage.silent) or None,
        gpu_co2e_g=figures.co2e_g_by_kind[DeviceKind.GPU],
        cpu_co2e_g=figures.co2e_g_by_kind[DeviceKind.CPU],
        dram_co2e_g=figures.co2e_g_by_kind[DeviceKind.DRAM],
        other_co2e_g=figures.co2e_g_by_kind[DeviceKind.OTHER],
    )
    _check_finite(label, values)
    return Computed(values, acc.comment_payload(figures))


def _check_finite(label: str, values: JobFigures) -> None:
    bad = [
        f"{name}={value}"
        for name, value in asdict(values).items()
        if isinstance(value, float) and not math.isfinite(value)
    ]
    if bad:
        raise ResultNotFinite(f"job {label}: result not finite ({', '.join(bad)})")


def store_job(session: Session, job: SlurmJob) -> int:
    """Store what Slurm's record says of the job; return its row id (``jobs.id``).

    The budgets are read from the comment as ``job_submit.lua`` checked it; a
    comment it would refuse (one set before the check was installed) gives none.
    """
    try:
        budgets = parse_budgets(job.comment)
    except BadBudget as refused:
        logger.warning("job=%s gives no budget: %s", job.job_id, refused)
        budgets = Budgets()
    cluster = get_or_create_cluster(session, job.cluster)
    row = upsert_job(
        session,
        cluster.id,
        job.job_id_raw,
        array_job_id=job.array_job_id,
        array_task_id=job.array_task_id,
        name=job.name,
        user_name=job.user,
        account=job.account,
        partition=job.partition,
        submit_time=job.submit_time,
        start_time=job.start_time,
        end_time=job.end_time,
        state=job.state,
        requested_gpus=job.req_gpus,
        comment=job.comment,
        budget_co2e_g=budgets.co2e_g,
        budget_energy_j=None if budgets.energy_wh is None else budgets.energy_wh * J_PER_WH,
        node_list=job.node_list or None,
        time_limit_s=job.time_limit_s,
        het_job_id=job.het_job_id,
        het_job_offset=job.het_job_offset,
    )
    return row.id


def settle_result(
    session: Session,
    job: SlurmJob,
    site: Site,
    intensity: IntensityProvider,
    now: datetime,
) -> Computed:
    """Store the job's metadata and its (re)computed result; return it with its payload.

    The payload of a job acted on for its budget ends in ``;budget=over``. A
    capped job's result carries its slowdown against its own profile
    (:func:`~slurm_carbon.service.capping.job_slowdown`; None without one). A
    ``carbon_defer`` job's deferral is recorded once and its saving measured
    (:func:`~slurm_carbon.service.deferrals.settle_deferral`).

    Raises:
        NoEnergy: nothing of the job is stored yet.
        IntensityUnavailable: as :func:`compute_result`.
    """
    job_id = store_job(session, job)
    found = _stored_footprint_of(session, job, job_id, site=site, intensity=intensity, now=now)
    computed = _computed(job.job_id, found, now)
    settle_deferral(session, job, job_id, found, site=site, intensity=intensity, now=now)
    measured = job_slowdown(session, job, job_id)
    if measured is not None:
        slowdown, profile = measured
        values = replace(
            computed.values,
            slowdown=slowdown.slowdown,
            nominal_s=slowdown.nominal_s,
            slowdown_profile=f"{profile.model} / {profile.name}, {profile.source}",
        )
        computed = replace(computed, values=values)
    if budget_action(session, job_id) is not None:  # acted on for its budget: it stays said
        computed = replace(computed, payload=f"{computed.payload};{BUDGET_NOTE}")
    save_result(session, job_id, computed.values)
    logger.info(
        "result job=%s co2e_g=%.1f region=%s source=%s quality=%s",
        job.job_id,
        computed.values.co2e_g,
        computed.values.ci_region,
        computed.values.ci_source,
        computed.values.quality,
    )
    return computed


def running_footprint(
    session: Session,
    job: SlurmJob,
    *,
    site: Site,
    intensity: IntensityProvider,
    now: datetime,
) -> tuple[int, JobFootprint]:
    """Store a running job's metadata; return its row id and its footprint so far.

    Raises:
        NoEnergy: nothing of the job is stored yet.
        IntensityUnavailable: as :func:`compute_result`.
    """
    job_id = store_job(session, job)
    return job_id, _stored_footprint_of(
        session, job, job_id, site=site, intensity=intensity, now=now
    )


def live_payload(
    label: str,
    found: JobFootprint,
    now: datetime,
    *,
    forecast_co2e_g: float | None = None,
    note: str | None = None,
) -> str:
    """The AdminComment payload of a running job's footprint so far, marked ``live=1``.

    ``forecast_co2e_g``, the job's forecast total emissions
    (:attr:`~slurm_carbon.service.job_forecast.JobForecast.total_co2e_g`), is
    carried as ``fc_co2e_g=`` (4 significant figures), then ``note`` (one
    lower-case ``key=value``, e.g. :data:`~slurm_carbon.service.budgets.BUDGET_NOTE`),
    before ``live=1``:
    ``sc1:co2e_g=90;kwh=0.1;ci=600;pue=1.5;q=cnt;fc_co2e_g=412.5;budget=over;live=1``.

    Raises:
        ResultNotFinite: a figure came out infinite or NaN.
    """
    computed = _computed(label, found, now)
    forecast = "" if forecast_co2e_g is None else f";fc_co2e_g={round_sig(forecast_co2e_g, 4)}"
    noted = "" if note is None else f";{note}"
    return f"{computed.payload}{forecast}{noted};live=1"


def _stored_footprint_of(  # noqa: PLR0913 (the job, where it is stored, and the context)
    session: Session,
    job: SlurmJob,
    job_id: int,
    *,
    site: Site,
    intensity: IntensityProvider,
    now: datetime,
) -> JobFootprint:
    return stored_footprint(
        session,
        job_id,
        label=job.job_id,
        partition=job.partition,
        node_list=job.node_list,
        run=(job.start_time, job.end_time or now),
        site=site,
        intensity=intensity,
    )
