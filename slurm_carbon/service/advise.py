"""What ``slurm-carbon advise`` computes: a job's cleanest start and its expected CO2e.

The series is the one the advice files carry (:func:`~slurm_carbon.service.advice.series_ahead`);
the start is :func:`~slurm_carbon.forecast.advice.cleanest_start`'s. The expected power is
an estimate: the stored profile's power at its highest limit for the partition's GPU model
and the job's name, else the site's default per GPU model (``[advice.gpu_power_w]``),
times the job's GPUs and the PUE; none known, the CO2e is not given (the saving in percent
needs no power).

Units: times in epoch seconds, power in watts, CI in gCO2e/kWh, CO2e in grams.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from slurm_carbon.config.site import SiteConfig
from slurm_carbon.errors import ConfigError
from slurm_carbon.forecast.advice import AdviceSeries, CleanestStart, cleanest_start
from slurm_carbon.service.advice import series_ahead
from slurm_carbon.slurm import JobQuery, SlurmClient
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.profiles import stored_profile
from slurm_carbon.text import quote_input
from slurm_carbon.units import J_PER_KWH

__all__ = [
    "JobAdvice",
    "JobPower",
    "JobShape",
    "advise_job",
    "defer_word",
    "local_begin",
    "pending_job_shape",
]


@dataclass(frozen=True)
class JobShape:
    """The job advice is asked for.

    Attributes:
        partition: Its partition.
        length_s: Its time limit. Units: seconds.
        gpus: Its GPUs, over all its nodes.
        name: Its name (the profile's workload key), if known.
    """

    partition: str
    length_s: int
    gpus: int
    name: str | None = None


@dataclass(frozen=True)
class JobPower:
    """The job's expected power per GPU, and where it comes from.

    Attributes:
        power_w: Per GPU. Units: watts.
        basis: ``profile <GPU model> / <key>`` or ``site default (<GPU model>)``.
    """

    power_w: float
    basis: str


@dataclass(frozen=True)
class JobAdvice:
    """The advice for one job.

    Attributes:
        region: The partition's grid region.
        series: The CI series used.
        best: The cleanest start (None: the series does not cover the job from now).
        power: The expected power (None: neither a profile nor a site default).
        pue: The PUE now (the partition's).
    """

    region: str
    series: AdviceSeries
    best: CleanestStart | None
    power: JobPower | None
    pue: float

    def co2e_g(self, shape: JobShape, mean_ci: float) -> float | None:
        """The expected CO2e of the job at a window's mean CI (None: power unknown, no GPU)."""
        if self.power is None or shape.gpus == 0:
            return None
        energy_j = self.power.power_w * shape.gpus * shape.length_s
        return energy_j / J_PER_KWH * mean_ci * self.pue


def _power(factory: SessionFactory, config: SiteConfig, shape: JobShape) -> JobPower | None:
    model = config.advice.gpu_model_for(shape.partition)
    if model is None:
        return None
    if shape.name:
        with transaction(factory) as session:
            profile = stored_profile(session, model, shape.name)
        if profile is not None and profile.points:
            top = max(profile.points, key=lambda point: point.limit_w)
            return JobPower(top.power_w, f"profile {model} / {shape.name}")
    default = config.advice.gpu_power_w.get(model)
    return None if default is None else JobPower(default, f"site default ({model})")


def advise_job(
    factory: SessionFactory, config: SiteConfig, shape: JobShape, now: datetime, within_s: int
) -> JobAdvice | None:
    """The cleanest start of ``shape`` within ``within_s`` of ``now``.

    Returns:
        The advice, or None when nothing is stored for the partition's region.
    """
    region = config.region_for(shape.partition, None)
    series = series_ahead(factory, region, now)
    if series is None:
        return None
    best = cleanest_start(series.steps, int(now.timestamp()), shape.length_s, within_s)
    pue = config.pue_at(shape.partition, now)
    return JobAdvice(region, series, best, _power(factory, config, shape), pue)


def pending_job_shape(slurm: SlurmClient, job_id: str) -> JobShape:
    """The shape of a pending job, from Slurm: its partition, time limit, GPUs and name.

    Raises:
        ConfigError: No such job, not pending, or no time limit of its own.
        SlurmError: Slurm could not be asked.
    """
    jobs = slurm.jobs(JobQuery(job_ids=[job_id]))
    if len(jobs) != 1:
        raise ConfigError(f"job {quote_input(job_id)}: not found (or an array: name one task)")
    job = jobs[0]
    if job.state != "PENDING":
        raise ConfigError(f"job {job.job_id} is {job.state}, not pending: nothing to advise")
    if job.time_limit_s is None:
        raise ConfigError(f"job {job.job_id} has no time limit of its own: pass -t instead")
    return JobShape(job.partition, int(job.time_limit_s), job.req_gpus, job.name)


def local_begin(epoch_s: int) -> str:
    """``--begin`` as sbatch reads it: local time of this machine, ``YYYY-MM-DDTHH:MM:SS``."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).astimezone().strftime("%Y-%m-%dT%H:%M:%S")


def defer_word(delay_s: int) -> str:
    """``carbon_defer=`` covering ``delay_s``: whole hours when it is some, else minutes up."""
    minutes = -(-delay_s // 60)
    return f"carbon_defer={minutes // 60}h" if minutes % 60 == 0 else f"carbon_defer={minutes}m"
