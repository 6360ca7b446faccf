"""The domain's words, each defined once: what every layer says about energy and intensity.

A leaf module (it imports nothing of the project): sensors, accounting,
intensity, the store and the service all take their enums from here. Each
member's value is the word stored in the database and shown in reports and
JSON, so a value never changes; the store maps the enums by value (see
``slurm_carbon.store.models``).

What the next issues need and cannot be defined precisely yet is left out,
with a note: a *forecast kind* (which quantity is forecast: a running job's
remaining energy, the grid's carbon intensity, both?) and a *cap decision*
(why a power limit was or was not changed: dirty grid, slowdown budget spent,
GPU shared, profiling...) wait for the forecast and control issues, which say
what they are.
"""

from __future__ import annotations

import enum

__all__ = [
    "MEASURED_DEVICE_KINDS",
    "OWN_FORECAST_SOURCE",
    "PROFILE_IMPORTED",
    "PROFILE_LEARNED",
    "PROFILE_LEARNED_BUSY_CLOCK",
    "PROFILING_POLICY",
    "STORED_BUDGET_ACTIONS",
    "STORED_CI_KINDS",
    "TIME_LIMIT_BOUND",
    "UNSPLIT",
    "BudgetAction",
    "BudgetKind",
    "BudgetOutcome",
    "CapPolicy",
    "CiKind",
    "CiSignal",
    "DeviceKind",
    "EnergyMethod",
    "ProfilingPhase",
    "Sharing",
]


class DeviceKind(enum.StrEnum):
    """What energy was used by.

    A measured device (a stored ``devices`` row) is a GPU, a CPU package or its
    DRAM; ``other`` is the accounting's share of a node's parts not measured.
    """

    GPU = "gpu"
    CPU = "cpu"
    DRAM = "dram"
    OTHER = "other"  # node parts not measured (fans, disks, NICs): a configured fixed power


MEASURED_DEVICE_KINDS = (DeviceKind.GPU, DeviceKind.CPU, DeviceKind.DRAM)
"""The kinds a measured device can be (every kind but ``other``)."""

UNSPLIT = "unsplit"
"""The ``device_kind`` of the emissions of results settled before revision 0020, which
records a result's CO2e by device kind: their CO2e is known only whole."""


class EnergyMethod(enum.StrEnum):
    """How energy was obtained, best first.

    A job result's quality is the weakest method behind its figures.
    """

    COUNTER = "counter"  # difference of a hardware energy counter
    INTEGRATED = "integrated"  # power samples integrated over time
    ESTIMATED = "estimated"  # a model (TDP share, profile, fixed power), nothing measured


class Sharing(enum.StrEnum):
    """Whether the job held the device (or node) alone while it was measured."""

    EXCLUSIVE = "exclusive"
    SHARED = "shared"


class CiKind(enum.StrEnum):
    """How a carbon-intensity figure was obtained.

    Stored points are ``actual`` or ``forecast``; ``annual`` figures are read
    from the embedded table when needed and never stored.
    """

    ACTUAL = "actual"  # measured/reported for that time
    FORECAST = "forecast"  # predicted, at ``issued_at``
    ANNUAL = "annual"  # a yearly mean standing in for every hour (an estimate)


STORED_CI_KINDS = (CiKind.ACTUAL, CiKind.FORECAST)
"""The kinds of carbon-intensity points the store keeps."""

OWN_FORECAST_SOURCE = "slurm_carbon"
"""The source of the forecasts we make ourselves, stored as ``slurm_carbon:<method>``
(e.g. ``slurm_carbon:blend``), as opposed to a provider's own (``uk``, ``watttime``...)."""

TIME_LIMIT_BOUND = "time_limit"
"""The method of a running job's energy forecast when it reported no progress: a
bound by its time limit (its mean power so far until then, at most its highest
period's power), not a confident forecast."""


PROFILE_LEARNED = "learned"
"""The source of a power profile measured online by the profiling state machine
(``slurm_carbon.control.profiling``)."""

PROFILE_LEARNED_BUSY_CLOCK = "learned:busy-clock-estimate"
"""The source of a power profile measured online from the GPUs' busy clock (utilization
x SM clock, ``slurm_carbon.sensors.base.GpuBusy``) because the job reported no progress:
its throughputs are an estimate, and the source says so wherever it is shown."""

PROFILE_IMPORTED = "imported"
"""The source of a power profile read from a file (``slurm-carbon profile import``),
stored as ``imported:<file name>``."""


class ProfilingPhase(enum.StrEnum):
    """Where a job's online power profiling is (``slurm_carbon.control.profiling``)."""

    WARMING_UP = "warming_up"  # the job's first minutes, at the maximum limit, not measured
    PROFILING = "profiling"  # trying limits from the maximum down, one window each
    SETTLED = "settled"  # a whole profile is known (learned, or reused from the cache)
    ENDED = "ended"  # the job ended before profiling settled: a partial result, not cached


class CapPolicy(enum.StrEnum):
    """How a job's GPU power limit is chosen each period (``slurm_carbon.control.policies``)."""

    NONE = "none"  # the maximum limit
    STATIC = "static"  # the least energy per unit of work within the slowdown budget
    CARBON = "carbon"  # ours: least carbon within the budget, following the CI forecast
    CHASE = "chase"  # Chase's rule (ICLR'23 CCAI workshop), a baseline without a budget


PROFILING_POLICY = "profiling"
"""The policy stored with a cap decided while a job's power profile is learned online
(``slurm_carbon.service.profiling``): the limit the profiling state machine asks for. Not a
:class:`CapPolicy`: no site chooses it and no replay runs it."""


class CiSignal(enum.StrEnum):
    """Which emissions a carbon-intensity figure counts."""

    AVERAGE = "average"  # generation-weighted mean of the grid mix
    MARGINAL = "marginal"  # the plant that answers one more kWh


class BudgetAction(enum.StrEnum):
    """What site policy does when a job's forecast total exceeds its budget.

    DESIGN: "budgets -> predicted total vs the job's budget -> notify / cancel by
    site policy". The site TOML's ``budgets.action`` takes these words.
    """

    NOTIFY = "notify"  # a note in the live AdminComment and the site's command; the job runs on
    CANCEL = "cancel"  # cancel the job (scancel)
    NONE = "none"  # nothing is done, nothing is recorded


STORED_BUDGET_ACTIONS = (BudgetAction.NOTIFY, BudgetAction.CANCEL)
"""The actions the store records (``none`` is never recorded)."""


class BudgetKind(enum.StrEnum):
    """Which of a job's budgets its forecast exceeded."""

    CO2E = "co2e"  # the comment's carbon_budget=, grams CO2e
    ENERGY = "energy"  # the comment's energy_budget=, joules


class BudgetOutcome(enum.StrEnum):
    """How carrying out a budget action went."""

    PENDING = "pending"  # recorded, not yet carried out (a crash in between leaves it so)
    DONE = "done"
    FAILED = "failed"  # e.g. scancel refused; its message is stored
