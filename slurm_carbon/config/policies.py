"""The policy sections of the site configuration: what the service does, not what it measures.

``[admin_comment]`` (mirroring results into Slurm), ``[budgets]`` (per-job carbon
budgets), ``[capping]`` (GPU power limits) and ``[advice]`` (submit-time advice),
each a typed, frozen model; ``budgets`` and ``capping`` also take a policy per
partition. :class:`~slurm_carbon.config.site.SiteConfig` holds one of each.
Every key is documented in ``deploy/site.example.toml``.

Units: times in minutes (``_min``) or hours (``_h``); power in watts (``_w``).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import AfterValidator, Field

from slurm_carbon.config.base import Section
from slurm_carbon.text import has_control

__all__ = [
    "DEFAULT_ADVICE_HINT_MIN_MINUTES",
    "MAX_ADVICE_DEFER_H",
    "MAX_ADVICE_GPU_POWER_W",
    "MAX_ADVICE_HINT_MIN_MINUTES",
    "MAX_ADVICE_WITHIN_H",
    "MAX_CAP_PERIOD_MIN",
    "MAX_CAP_SLOWDOWN",
    "MAX_MIN_RUNTIME_MIN",
    "MAX_NOTIFY_ARGS",
    "MAX_NOTIFY_ARG_CHARS",
    "MIN_CAP_PERIOD_MIN",
    "NOTIFY_PLACEHOLDERS",
    "AdminCommentPolicy",
    "AdviceConfig",
    "BudgetActionName",
    "BudgetPolicy",
    "BudgetsConfig",
    "CappingConfig",
    "CappingPolicy",
    "PartitionPolicies",
]


PolicyT = TypeVar("PolicyT", bound=Section)
OverrideT = TypeVar("OverrideT", bound=Section)


class PartitionPolicies(Section, Generic[PolicyT, OverrideT]):
    """A default policy whose keys each partition may override: ``[budgets]``, ``[capping]``.

    A subclass inherits ``PolicyT`` too (its keys are the default policy's) and
    names it in :attr:`policy_type`; ``OverrideT`` has the same keys, each optional.

    Attributes:
        partitions: Policy by partition name; a key left out takes the default's.
    """

    policy_type: ClassVar[type[Section]]
    """The class of the policies :meth:`policy_for` returns: ``PolicyT``."""

    partitions: dict[str, OverrideT] = Field(default_factory=dict)

    def policy_for(self, partition: str | None) -> PolicyT:
        """The policy for a job in ``partition``: the default, with the partition's keys."""
        keys = self.model_dump(exclude={"partitions"})
        if partition is not None and partition in self.partitions:
            keys.update(self.partitions[partition].model_dump(exclude_none=True))
        # A ClassVar cannot be typed with PolicyT, so policy_type is a Section's type.
        return cast("PolicyT", self.policy_type(**keys))


class AdminCommentPolicy(Section):
    """How results are mirrored into Slurm.

    Attributes:
        enabled: Whether to write at all.
        field: The job field written (only ``admin_comment``).
        foreign: What to do when the field holds another tool's value:
            ``append`` ours after it, or ``skip`` the job. Never overwrite.
    """

    enabled: bool = True
    field: Literal["admin_comment"] = "admin_comment"
    foreign: Literal["append", "skip"] = "append"


MAX_MIN_RUNTIME_MIN = 7 * 24 * 60
"""The longest ``min_runtime_min``: a week. A job must be judged while there is time
to act, and a week is longer than most sites' longest time limit; more is a typo."""

MAX_NOTIFY_ARGS = 64
"""The most words in ``notify_command``: far more than a mail command needs."""

MAX_NOTIFY_ARG_CHARS = 1024
"""The longest word of ``notify_command``, placeholders not yet replaced."""

NOTIFY_PLACEHOLDERS = ("job_id", "user", "budget", "forecast")
"""The placeholders ``notify_command`` may hold, each written ``{name}``."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

BudgetActionName = Literal["notify", "cancel", "none"]
OverBy = Literal["low", "point"]
MinProgress = Annotated[float, Field(gt=0, le=1)]
MinRuntimeMin = Annotated[int, Field(gt=0, le=MAX_MIN_RUNTIME_MIN)]


def _notify_command(value: list[str] | None) -> list[str] | None:
    """An argv list run without a shell: an absolute program, bounded words, known placeholders."""
    if value is None:
        return value
    if not value:
        raise ValueError('must name a program, e.g. ["/usr/bin/mail", "-s", "...", "{user}"]')
    if len(value) > MAX_NOTIFY_ARGS:
        raise ValueError(f"more than {MAX_NOTIFY_ARGS} words")
    if not value[0].startswith("/"):
        raise ValueError(f"the program must be an absolute path (no PATH lookup), got {value[0]!r}")
    for index, word in enumerate(value):
        if len(word) > MAX_NOTIFY_ARG_CHARS:
            raise ValueError(f"word {index} is longer than {MAX_NOTIFY_ARG_CHARS} characters")
        if has_control(word):
            raise ValueError(f"word {index} holds a control character")
        for name in _PLACEHOLDER.findall(word):
            if name not in NOTIFY_PLACEHOLDERS:
                known = ", ".join(f"{{{known}}}" for known in NOTIFY_PLACEHOLDERS)
                raise ValueError(f"word {index}: unknown placeholder {{{name}}}; use {known}")
    return value


NotifyCommand = Annotated[list[str] | None, AfterValidator(_notify_command)]


class BudgetPolicy(Section):
    """What happens to a job whose forecast total exceeds its budget.

    Attributes:
        action: ``notify`` (a note in the live AdminComment, and ``notify_command``),
            ``cancel`` (scancel), or ``none`` (nothing is done or recorded).
        min_progress: The forecast is confident once the job reports this much of
            its work done (a fraction, 0 < f <= 1)...
        min_runtime_min: ...or once it has run this long, whichever comes first
            (a job that reports no progress is judged by run time only). Units: minutes.
        over_by: ``low``: act when the lower bound of the forecast total's 90 %
            interval exceeds the budget (few false alarms: the default);
            ``point``: when the point forecast does.
        notify_command: For ``notify``: a program and its arguments, run without a
            shell; ``{job_id}``, ``{user}``, ``{budget}`` and ``{forecast}`` are
            replaced in each argument. None: no command.
    """

    action: BudgetActionName = "notify"
    min_progress: MinProgress = 0.1
    min_runtime_min: MinRuntimeMin = 10
    over_by: OverBy = "low"
    notify_command: NotifyCommand = None


class PartitionBudgetPolicy(Section):
    """A partition's budget policy: the keys it sets replace the default's."""

    action: BudgetActionName | None = None
    min_progress: MinProgress | None = None
    min_runtime_min: MinRuntimeMin | None = None
    over_by: OverBy | None = None
    notify_command: NotifyCommand = None


class BudgetsConfig(PartitionPolicies[BudgetPolicy, PartitionBudgetPolicy], BudgetPolicy):
    """Per-job budgets (``--comment carbon_budget=5kg``): the default policy and partitions'."""

    policy_type = BudgetPolicy


MAX_CAP_SLOWDOWN = 0.5
"""The largest ``max_slowdown``: online profiling stops at the first limit more than
50 % slower, so a profile holds nothing slower to choose from."""

MIN_CAP_PERIOD_MIN = 1
"""The shortest capping period: periods are whole minutes. The agent pulls its caps
every 30 s (``slurm_carbon.channel.CAP_POLL_S``), so a decision may reach the GPU up to half
of a 1-minute period late; periods of 30 minutes or more (the default) are the ones
meant for production, and the short ones for trying a policy out (a test's minutes)."""

MAX_CAP_PERIOD_MIN = 24 * 60
"""The longest capping period: a day, the horizon of our carbon-intensity forecast."""

CapPolicyName = Literal["none", "static", "carbon", "chase"]
MaxSlowdown = Annotated[float, Field(gt=0, le=MAX_CAP_SLOWDOWN)]
CapPeriodMin = Annotated[int, Field(ge=MIN_CAP_PERIOD_MIN, le=MAX_CAP_PERIOD_MIN)]


class CappingPolicy(Section):
    """How a running GPU job's power limit is chosen each period.

    Attributes:
        policy: ``none`` (never capped: the default, capping is opt-in),
            ``static`` (the limit with the least energy per unit of work within
            ``max_slowdown``), ``carbon`` (the least carbon within ``max_slowdown``,
            following the carbon intensity ahead), ``chase`` (Chase's rule, a baseline
            for comparison: it ignores ``max_slowdown``); ``slurm_carbon.control.policies``.
        max_slowdown: The slowdown budget, a fraction of the job's time at the
            highest limit (0 < s <= :data:`MAX_CAP_SLOWDOWN`).
        period_min: How long each decision holds. Units: minutes.
    """

    policy: CapPolicyName = "none"
    max_slowdown: MaxSlowdown = 0.025
    period_min: CapPeriodMin = 30


class PartitionCappingPolicy(Section):
    """A partition's capping policy: the keys it sets replace the default's."""

    policy: CapPolicyName | None = None
    max_slowdown: MaxSlowdown | None = None
    period_min: CapPeriodMin | None = None


class CappingConfig(PartitionPolicies[CappingPolicy, PartitionCappingPolicy], CappingPolicy):
    """GPU power capping: the default policy and partitions'."""

    policy_type = CappingPolicy


MAX_ADVICE_DEFER_H = 168
"""The longest ``defer_default_h``: a week, the longest deferral worth asking for."""

MAX_ADVICE_WITHIN_H = 48
"""The longest ``within_h``: the service reads the CI 48 h ahead, so no start later
than that can be judged."""

MAX_ADVICE_HINT_MIN_MINUTES = 2880
"""The largest ``hint_min_minutes``: 48 h, the advice files' reach; a longer job never
gets a hint anyway."""

DEFAULT_ADVICE_HINT_MIN_MINUTES = 60
"""The default ``hint_min_minutes``: a job shorter than an hour emits too little for a
line at every submission to be worth reading (and sbatch runs such jobs by the dozen)."""

MAX_ADVICE_GPU_POWER_W = 2000.0
"""The largest default GPU power: above any GPU sold today (1.2 kW); more is a typo."""


class AdviceConfig(Section):
    """Submit-time advice: the files read by ``job_submit.lua`` and ``slurm-carbon advise``.

    Attributes:
        enabled: Whether the service writes advice files (False: it removes them).
        dir: The directory of the files, ``<dir>/<partition>.advice`` (absolute).
        threshold_pct: The sbatch hint is printed only when the saving is at least this.
            Units: percent.
        hint_min_minutes: The sbatch hint is printed only for a job at least this long
            (its time limit; 0: any). Units: minutes.
        defer_default_h: What ``carbon_defer=auto`` means. Units: hours.
        within_h: ``slurm-carbon advise``'s default ``--within``. Units: hours.
        hint_partitions: The partitions where the hint is printed (empty: all);
            deferral works in every partition.
        gpu_power_w: A job's expected power per GPU by GPU model when no profile is
            stored for it. Units: watts.
        partition_gpu: The GPU model of each partition, for ``gpu_power_w`` and profiles.
    """

    enabled: bool = True
    dir: str = Field(default="/var/lib/slurm-carbon/advice", pattern=r"^/")
    threshold_pct: float = Field(default=10.0, ge=0, le=100)
    hint_min_minutes: int = Field(
        default=DEFAULT_ADVICE_HINT_MIN_MINUTES, ge=0, le=MAX_ADVICE_HINT_MIN_MINUTES
    )
    defer_default_h: int = Field(default=12, ge=1, le=MAX_ADVICE_DEFER_H)
    within_h: int = Field(default=24, ge=1, le=MAX_ADVICE_WITHIN_H)
    hint_partitions: list[str] = Field(default_factory=list)
    gpu_power_w: dict[str, Annotated[float, Field(gt=0, le=MAX_ADVICE_GPU_POWER_W)]] = Field(
        default_factory=dict
    )
    partition_gpu: dict[str, str] = Field(default_factory=dict)

    def hint_for(self, partition: str) -> bool:
        """Whether the sbatch hint is printed for jobs in ``partition``."""
        return not self.hint_partitions or partition in self.hint_partitions

    def gpu_model_for(self, partition: str) -> str | None:
        """The GPU model of ``partition``, if the site names it."""
        return self.partition_gpu.get(partition)
