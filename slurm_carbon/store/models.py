"""The database schema as SQLAlchemy models (revision 0018: partitioned intervals).

Every change here needs an Alembic revision in ``migrations/versions``;
``tests/integration/test_migrations.py`` fails when models and migrations drift.

Units: energy in joules (``energy_j``), carbon intensity in grams CO2e per kWh
(``ci_g_per_kwh``), emissions in grams CO2e (``co2e_g``); PUE is dimensionless;
every time is an aware UTC ``datetime``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from slurm_carbon.store.types import UTCDateTime
from slurm_carbon.vocabulary import (
    MEASURED_DEVICE_KINDS,
    PROFILE_IMPORTED,
    PROFILE_LEARNED,
    PROFILE_LEARNED_BUSY_CLOCK,
    STORED_BUDGET_ACTIONS,
    STORED_CI_KINDS,
    BudgetAction,
    BudgetKind,
    BudgetOutcome,
    CiKind,
    CiSignal,
    DeviceKind,
    EnergyMethod,
    Sharing,
)

__all__ = [
    "Base",
    "BudgetActionRow",
    "CapDecision",
    "CarbonIntensityPoint",
    "Cluster",
    "CommentWrite",
    "CommentWriteState",
    "Deferral",
    "Device",
    "EnergyInterval",
    "Job",
    "JobProgress",
    "JobResult",
    "Node",
    "NodeToken",
    "PowerProfilePointRow",
    "PowerProfileRow",
    "PueSetting",
]

# Constraint names follow from these patterns, so migrations name them the same
# way on every backend and a later revision can drop them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Row ids of the tables that grow without bound. SQLite only auto-increments a
# column declared exactly INTEGER PRIMARY KEY (which is 64-bit there anyway).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class CommentWriteState(enum.StrEnum):
    """Progress of writing a job's result into Slurm's AdminComment."""

    PENDING = "pending"
    WRITTEN = "written"
    FAILED = "failed"


def _enum(cls: type[enum.StrEnum], name: str, *, constraint: bool = True) -> Enum:
    """A string column of ``cls``'s values, restricted by a CHECK constraint to them.

    This is how the store maps the words of :mod:`slurm_carbon.vocabulary`: by
    value. Not a native PostgreSQL ENUM, so SQLite and PostgreSQL behave the
    same and a new member needs only a new CHECK, not an ``ALTER TYPE``. Python
    does not validate strings, so the database's CHECK is what refuses a bad
    value. ``constraint=False`` for a column that allows only some members: its
    table names them with :func:`_only`.
    """
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=constraint,
        length=16,
        validate_strings=False,
        values_callable=lambda members: [member.value for member in members],
    )


def _only(column: str, members: Sequence[enum.StrEnum]) -> CheckConstraint:
    """The CHECK :func:`_enum` would make, for the ``members`` a column allows."""
    values = ", ".join(f"'{member.value}'" for member in members)
    return CheckConstraint(f"{column} IN ({values})", name=column)


class Base(DeclarativeBase):
    """Base of every model; its ``metadata`` is what migrations are compared with."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy's API)


class Cluster(Base):
    """A Slurm cluster (``ClusterName``), at a site."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    site: Mapped[str | None] = mapped_column(String(128))


class Node(Base):
    """A compute node of a cluster, with its agent's latest health report."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("cluster_id", "hostname"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    hostname: Mapped[str] = mapped_column(String(255))
    # The agent's latest health report (None: an older agent, or none yet): rows
    # waiting in its spool, batches it dead-lettered, and when the service got it.
    spool_backlog: Mapped[int | None]
    dead_letters: Mapped[int | None]
    health_at: Mapped[datetime | None]


class Device(Base):
    """A measured device of a node: a GPU, a CPU package or its DRAM.

    ``uuid`` identifies it on its node (the NVML UUID of a GPU, e.g. ``GPU-5e...``;
    the RAPL domain of a CPU or DRAM, e.g. ``intel-rapl:0``). ``minor`` is the
    GPU's minor number (``/dev/nvidia<minor>``, what ``CUDA_VISIBLE_DEVICES`` holds
    in the Prolog) or the CPU package index; never NVML's enumeration index.
    """

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("node_id", "uuid"),
        _only("kind", MEASURED_DEVICE_KINDS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(String(96))
    kind: Mapped[DeviceKind] = mapped_column(_enum(DeviceKind, "kind", constraint=False))
    model: Mapped[str | None] = mapped_column(String(128))
    minor: Mapped[int | None]
    # A GPU's power-limit range (NVML's constraints), in watts; None: not reported
    # (an older agent) or not a GPU (revision 0014).
    min_limit_w: Mapped[float | None] = mapped_column(Float)
    max_limit_w: Mapped[float | None] = mapped_column(Float)


class Job(Base):
    """A Slurm job (an array task or a het job's component is a job with its own ``slurm_job_id``).

    ``het_job_id``/``het_job_offset``: a heterogeneous job's component ``843+1``
    (its leader's id and its offset); None for any other job.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("cluster_id", "slurm_job_id"),
        Index(None, "cluster_id", "array_job_id"),
        Index(None, "cluster_id", "het_job_id"),
        Index(None, "user_name", "end_time"),
        Index(None, "end_time"),
        CheckConstraint("budget_co2e_g >= 0", name="budget_co2e_g_nonnegative"),
        CheckConstraint("budget_energy_j >= 0", name="budget_energy_j_nonnegative"),
        CheckConstraint("requested_gpus >= 0", name="requested_gpus_nonnegative"),
        CheckConstraint("time_limit_s >= 0", name="time_limit_s_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    slurm_job_id: Mapped[int] = mapped_column(BigInteger)
    array_job_id: Mapped[int | None] = mapped_column(BigInteger)
    array_task_id: Mapped[int | None]
    name: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str | None] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(64))
    partition: Mapped[str | None] = mapped_column(String(64))
    submit_time: Mapped[datetime | None]
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    state: Mapped[str | None] = mapped_column(String(32))  # Slurm's own word, e.g. COMPLETED
    requested_gpus: Mapped[int] = mapped_column(default=0)
    comment: Mapped[str | None] = mapped_column(Text)
    budget_co2e_g: Mapped[float | None] = mapped_column(Float)
    # The comment's energy_budget= (slurm_carbon.accounting.budget), in joules.
    budget_energy_j: Mapped[float | None] = mapped_column(Float)
    # Slurm's compressed host list (gpu[01-03]); None: not known yet.
    node_list: Mapped[str | None] = mapped_column(Text)
    # Slurm's time limit (TimelimitRaw), in seconds; None: UNLIMITED or not known.
    time_limit_s: Mapped[float | None] = mapped_column(Float)
    het_job_id: Mapped[int | None] = mapped_column(BigInteger)
    het_job_offset: Mapped[int | None]


class EnergyInterval(Base):
    """Energy one device used for one job over one interval.

    The primary key (node, device, job, interval start) makes a re-sent batch
    idempotent (revision 0018: no surrogate id). On PostgreSQL the table is
    partitioned by day of ``interval_start`` (:mod:`slurm_carbon.store.partitions`);
    a row may be an hour's intervals rolled up into one
    (:mod:`slurm_carbon.store.rollup`). Units: ``energy_j`` in joules.
    """

    __tablename__ = "energy_intervals"
    __table_args__ = (
        PrimaryKeyConstraint("node_id", "device_id", "job_id", "interval_start"),
        Index(None, "job_id", "interval_start"),
        CheckConstraint("energy_j >= 0", name="energy_j_nonnegative"),
        CheckConstraint("interval_end > interval_start", name="interval_positive"),
        {"postgresql_partition_by": "RANGE (interval_start)"},
    )

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    interval_start: Mapped[datetime]
    interval_end: Mapped[datetime]
    energy_j: Mapped[float] = mapped_column(Float)
    method: Mapped[EnergyMethod] = mapped_column(_enum(EnergyMethod, "method"))
    sharing: Mapped[Sharing] = mapped_column(_enum(Sharing, "sharing"))
    # The GPU's power limit in force over the interval (its time-weighted mean), in
    # watts; None: not known (an older agent) or not a GPU (revision 0012).
    cap_w: Mapped[float | None] = mapped_column(Float)
    # The GPU's mean busy clock (utilization x SM clock), in MHz; None: not known
    # (an older agent, a GPU that cannot tell) or not a GPU (revision 0014).
    busy_clock_mhz: Mapped[float | None] = mapped_column(Float)


class JobProgress(Base):
    """How far a running job said it was (``slurm_carbon.progress``), at a time.

    One row per (job, time): when several nodes of a job report the same time,
    the largest fraction is kept, so a re-sent batch changes nothing. Units:
    ``fraction`` of the job's work done, 0..1.
    """

    __tablename__ = "job_progress"
    __table_args__ = (
        UniqueConstraint("job_id", "time"),
        CheckConstraint("fraction >= 0 AND fraction <= 1", name="fraction_in_unit_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    time: Mapped[datetime]
    fraction: Mapped[float] = mapped_column(Float)


class BudgetActionRow(Base):
    """What was done to a job whose forecast total exceeded its budget: once per job, ever.

    Recorded (``outcome`` pending) before the action is carried out, so a crash
    in between never repeats it; then ``done`` or ``failed`` with its message.
    Units: ``budget`` and ``forecast*`` in grams CO2e for kind ``co2e``, in
    joules for kind ``energy``; ``progress`` 0..1 of the job's work (None: not
    reported).
    """

    __tablename__ = "budget_actions"
    __table_args__ = (
        UniqueConstraint("job_id"),
        _only("action", STORED_BUDGET_ACTIONS),
        CheckConstraint("budget > 0", name="budget_positive"),
        CheckConstraint("forecast_low <= forecast_high", name="forecast_interval_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    action: Mapped[BudgetAction] = mapped_column(_enum(BudgetAction, "action", constraint=False))
    at: Mapped[datetime]
    kind: Mapped[BudgetKind] = mapped_column(_enum(BudgetKind, "kind"))
    budget: Mapped[float] = mapped_column(Float)
    forecast: Mapped[float] = mapped_column(Float)
    forecast_low: Mapped[float] = mapped_column(Float)
    forecast_high: Mapped[float] = mapped_column(Float)
    progress: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[BudgetOutcome] = mapped_column(
        _enum(BudgetOutcome, "outcome"), default=BudgetOutcome.PENDING
    )
    outcome_message: Mapped[str | None] = mapped_column(Text)


class CapDecision(Base):
    """A GPU power limit the service decided for a job over a period, and why.

    ``device`` is the GPU's UUID, or the empty string for every GPU the job
    holds (not NULL, so the unique key holds on every backend, as
    :class:`PueSetting`'s ``partition``). Recording the same (job, device,
    period start) again is a no-op. Units: ``power_limit_w`` in watts.
    """

    __tablename__ = "cap_decisions"
    __table_args__ = (
        UniqueConstraint("job_id", "device", "period_start"),
        Index(None, "period_end"),
        CheckConstraint("power_limit_w > 0", name="power_limit_w_positive"),
        CheckConstraint("period_end > period_start", name="period_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(96), default="")
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    power_limit_w: Mapped[float] = mapped_column(Float)
    policy: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]


class CarbonIntensityPoint(Base):
    """Carbon intensity of a grid region at a time, from one source.

    ``issued_at`` is when the source published the value: a forecast's issue
    time, or for an actual value when it was observed (``time`` itself if the
    source does not say). It is part of the key, so successive forecasts for the
    same hour are all kept. Units: ``ci_g_per_kwh`` in gCO2e/kWh.
    """

    __tablename__ = "carbon_intensity"
    __table_args__ = (
        UniqueConstraint("region", "source", "time", "kind", "signal", "issued_at"),
        _only("kind", STORED_CI_KINDS),
        CheckConstraint("ci_g_per_kwh >= 0", name="ci_g_per_kwh_nonnegative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    ci_g_per_kwh: Mapped[float] = mapped_column(Float)
    kind: Mapped[CiKind] = mapped_column(_enum(CiKind, "kind", constraint=False))
    signal: Mapped[CiSignal] = mapped_column(_enum(CiSignal, "signal"))
    issued_at: Mapped[datetime]
    # Made up (a demonstration's series), not data: whatever is computed from it says so.
    synthetic: Mapped[bool] = mapped_column(default=False, server_default=false())


class PueSetting(Base):
    """The PUE of a cluster, or of one partition of it, from ``valid_from`` on.

    ``partition`` is the empty string for the whole cluster (not NULL, so that
    the unique key holds on every backend). Units: dimensionless, >= 1.
    """

    __tablename__ = "pue_settings"
    __table_args__ = (
        UniqueConstraint("cluster_id", "partition", "valid_from"),
        CheckConstraint("pue >= 1", name="pue_at_least_one"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    partition: Mapped[str] = mapped_column(String(64), default="")
    pue: Mapped[float] = mapped_column(Float)
    valid_from: Mapped[datetime]


class JobResult(Base):
    """A job's computed energy and emissions (one row per job, replaced on recompute).

    Units: ``*_energy_j`` in joules at the devices (before PUE), ``co2e_g`` in
    grams CO2e (after PUE), ``ci_mean_g_per_kwh`` energy-weighted mean in gCO2e/kWh;
    ``ci_*_share`` fractions of the device energy.
    ``other_energy_j`` is the job's share of its nodes' unmeasured parts (a
    configured fixed power: an estimate).
    """

    __tablename__ = "job_results"
    __table_args__ = (
        CheckConstraint(
            "gpu_energy_j >= 0 AND cpu_energy_j >= 0 AND dram_energy_j >= 0",
            name="energy_j_nonnegative",
        ),
        CheckConstraint("co2e_g >= 0", name="co2e_g_nonnegative"),
        CheckConstraint("other_energy_j >= 0", name="other_energy_j_nonnegative"),
        # Run time over a positive nominal time, less one (revision 0013); all three or none.
        CheckConstraint("slowdown > -1 AND nominal_s > 0", name="slowdown_of_positive_nominal"),
        CheckConstraint(
            "(slowdown IS NULL) = (nominal_s IS NULL)"
            " AND (slowdown IS NULL) = (slowdown_profile IS NULL)",
            name="slowdown_whole",
        ),
        CheckConstraint("node_coverage >= 0 AND node_coverage <= 1", name="node_coverage_share"),
        # CO2e by device kind (revision 0020): all four or none (a result computed before it).
        CheckConstraint(
            "(cpu_co2e_g IS NULL) = (gpu_co2e_g IS NULL)"
            " AND (dram_co2e_g IS NULL) = (gpu_co2e_g IS NULL)"
            " AND (other_co2e_g IS NULL) = (gpu_co2e_g IS NULL)",
            name="co2e_g_split_whole",
        ),
        CheckConstraint(
            "gpu_co2e_g >= 0 AND cpu_co2e_g >= 0 AND dram_co2e_g >= 0 AND other_co2e_g >= 0",
            name="co2e_g_split_nonnegative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    gpu_energy_j: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_energy_j: Mapped[float] = mapped_column(Float, default=0.0)
    dram_energy_j: Mapped[float] = mapped_column(Float, default=0.0)
    other_energy_j: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    co2e_g: Mapped[float] = mapped_column(Float)
    ci_mean_g_per_kwh: Mapped[float | None] = mapped_column(Float)
    ci_region: Mapped[str | None] = mapped_column(String(64))
    # Every source used, sorted, comma-separated; never cut (revision 0006).
    ci_source: Mapped[str | None] = mapped_column(Text)
    pue: Mapped[float] = mapped_column(Float)
    # The weakest method behind the figures.
    quality: Mapped[EnergyMethod] = mapped_column(_enum(EnergyMethod, "quality"))
    sharing: Mapped[Sharing] = mapped_column(_enum(Sharing, "sharing"))
    computed_at: Mapped[datetime]
    # A yearly mean stood in for some hour's CI / some CI was synthetic (a demonstration).
    ci_annual: Mapped[bool] = mapped_column(default=False, server_default=false())
    ci_synthetic: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Shares of the device energy accounted with each kind of CI (0..1); None:
    # computed before revision 0006, which records them.
    ci_actual_share: Mapped[float | None] = mapped_column(Float)
    ci_forecast_share: Mapped[float | None] = mapped_column(Float)
    ci_annual_share: Mapped[float | None] = mapped_column(Float)
    # A capped job's slowdown against its own profile (a fraction), the nominal time
    # (seconds at the profile's highest limit) and that profile ("GPU model / workload
    # key, source"); None: never capped, no profile, or computed before revision 0013.
    slowdown: Mapped[float | None] = mapped_column(Float)
    nominal_s: Mapped[float | None] = mapped_column(Float)
    slowdown_profile: Mapped[str | None] = mapped_column(Text)
    # The share of the job's node-time its intervals cover (0..1) and the nodes of its
    # node list that reported nothing, comma-separated (None: none); coverage None: no
    # node list known, or computed before revision 0016.
    node_coverage: Mapped[float | None] = mapped_column(Float)
    missing_nodes: Mapped[str | None] = mapped_column(Text)
    # ``co2e_g`` by device kind, each part of the energy at its own CI and PUE; None:
    # computed before revision 0020, which records them.
    gpu_co2e_g: Mapped[float | None] = mapped_column(Float)
    cpu_co2e_g: Mapped[float | None] = mapped_column(Float)
    dram_co2e_g: Mapped[float | None] = mapped_column(Float)
    other_co2e_g: Mapped[float | None] = mapped_column(Float)


class Deferral(Base):
    """A job's ``carbon_defer`` decision, recorded once, and its saving once measured.

    The expected saving is recomputed by the service from what the store held at the
    submit time (the forecast's source and issue time beside it); None: no series
    covered the job then. The measured saving is the job's energy profile moved to the
    counterfactual start (the submit time) against its actual emissions, an estimate;
    None until the job's result is settled (revision 0015). Units: ``asked_s`` in
    seconds, ``*_pct`` in percent, ``measured_saving_g`` in grams CO2e.
    """

    __tablename__ = "deferrals"
    __table_args__ = (CheckConstraint("asked_s > 0", name="asked_s_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    asked_s: Mapped[int]
    submit_time: Mapped[datetime]
    eligible_time: Mapped[datetime | None]
    counterfactual_start: Mapped[datetime]
    expected_saving_pct: Mapped[float | None] = mapped_column(Float)
    forecast_source: Mapped[str | None] = mapped_column(String(64))
    forecast_issued: Mapped[datetime | None]
    recorded_at: Mapped[datetime]
    measured_saving_g: Mapped[float | None] = mapped_column(Float)
    measured_saving_pct: Mapped[float | None] = mapped_column(Float)


class CommentWrite(Base):
    """A write of a job's result into Slurm's AdminComment, and how it went."""

    __tablename__ = "comment_writes"
    __table_args__ = (
        Index(None, "state"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[CommentWriteState] = mapped_column(
        _enum(CommentWriteState, "state"), default=CommentWriteState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    written_at: Mapped[datetime | None]


class NodeToken(Base):
    """A bearer token with which one node reports its energy to the service.

    Only the SHA-256 of the token is stored (hex, 64 characters): a copy of the
    database cannot be used to report as a node. The token is shown once, when
    issued. The cluster and hostname are the node's; a node may hold several
    tokens at once (for rotation), each valid until ``revoked_at``.
    """

    __tablename__ = "node_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class PowerProfileRow(Base):
    """A GPU model's power profile for one kind of job: learned once, reused by the next.

    ``workload_key`` is the job's name or its comment's ``carbon_profile=NAME``
    (``slurm_carbon.control.profiling.workload_key``); ``source`` is ``learned``
    (measured online), ``learned:busy-clock-estimate`` (measured online from the GPUs'
    busy clock, an estimate) or ``imported:<file name>``. Its points are
    :class:`PowerProfilePointRow` rows.
    """

    __tablename__ = "power_profiles"
    __table_args__ = (
        UniqueConstraint("gpu_model", "workload_key"),
        CheckConstraint(
            f"source = '{PROFILE_LEARNED}' OR source = '{PROFILE_LEARNED_BUSY_CLOCK}'"
            f" OR source LIKE '{PROFILE_IMPORTED}:%'",
            name="source_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gpu_model: Mapped[str] = mapped_column(String(128))
    workload_key: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class PowerProfilePointRow(Base):
    """One power limit of a stored profile: the GPU's draw and the job's throughput there.

    Units: ``limit_w`` and ``power_w`` in watts; ``throughput`` in the job's work
    per second (fraction of the job, epochs, or busy clock in MHz, as learned).
    """

    __tablename__ = "power_profile_points"
    __table_args__ = (
        UniqueConstraint("profile_id", "limit_w"),
        CheckConstraint("limit_w > 0", name="limit_w_positive"),
        CheckConstraint("power_w > 0", name="power_w_positive"),
        CheckConstraint("throughput > 0", name="throughput_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("power_profiles.id", ondelete="CASCADE"))
    limit_w: Mapped[float] = mapped_column(Float)
    power_w: Mapped[float] = mapped_column(Float)
    throughput: Mapped[float] = mapped_column(Float)
