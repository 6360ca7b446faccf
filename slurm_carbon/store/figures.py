"""A job's stored result as one value: what :func:`save_result` writes and the reports read.

One field per column of :class:`~slurm_carbon.store.models.JobResult` (but its
ids): the writer builds it from a footprint, the reports read it back.

Units: ``*_energy_j`` in joules at the devices (before PUE), ``co2e_g`` in grams
CO2e after PUE (``*_co2e_g``: its parts by device kind), ``ci_mean_g_per_kwh``
in gCO2e/kWh (energy-weighted); PUE dimensionless; shares are fractions (0..1)
of the device energy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slurm_carbon.vocabulary import EnergyMethod, Sharing

__all__ = ["JobFigures"]


@dataclass(frozen=True, slots=True)
class JobFigures:
    """A job's computed result (see :class:`~slurm_carbon.store.models.JobResult`).

    Attributes:
        ci_source: Every carbon-intensity source used, sorted, comma-separated.
        quality: The weakest energy method behind the figures.
        sharing: Shared if any energy was measured on a device not the job's alone.
        ci_annual: Whether a yearly mean stood in for some hour's carbon intensity.
        ci_synthetic: Whether some carbon intensity was synthetic (a demonstration).
        ci_actual_share: Share of the energy accounted with actual CI (None: the
            result predates revision 0006, which records shares).
        ci_forecast_share: The same with forecast CI.
        ci_annual_share: The same with a yearly mean.
        slowdown: A capped job's slowdown against its own profile (a fraction, an
            estimate; None: never capped, no profile, or computed before revision 0013).
        nominal_s: The nominal time it implies: the work done, as seconds at the
            profile's highest limit (None with ``slowdown``).
        slowdown_profile: The profile measured against: "GPU model / workload key,
            source" (None with ``slowdown``).
        node_coverage: The share of the job's node-time (run time times its
            nodes) its intervals cover, 0..1 (None: its node list is not known,
            or computed before revision 0016).
        missing_nodes: The nodes of its node list that reported nothing,
            comma-separated (None: none): its energy is the other nodes' only.
        gpu_co2e_g: The part of ``co2e_g`` used by the GPUs, each part of their
            energy at its own CI and PUE (not ``co2e_g`` split by energy share).
            The four are all set or all None: None for a result computed before
            revision 0020, which records them.
        cpu_co2e_g: The same for the CPUs.
        dram_co2e_g: The same for the DRAM.
        other_co2e_g: The same for the share of unmeasured node parts.
    """

    gpu_energy_j: float
    cpu_energy_j: float
    dram_energy_j: float
    co2e_g: float
    ci_mean_g_per_kwh: float | None
    ci_region: str | None
    ci_source: str | None
    pue: float
    quality: EnergyMethod
    sharing: Sharing
    computed_at: datetime
    other_energy_j: float = 0.0
    ci_annual: bool = False
    ci_synthetic: bool = False
    ci_actual_share: float | None = None
    ci_forecast_share: float | None = None
    ci_annual_share: float | None = None
    slowdown: float | None = None
    nominal_s: float | None = None
    slowdown_profile: str | None = None
    node_coverage: float | None = None
    missing_nodes: str | None = None
    gpu_co2e_g: float | None = None
    cpu_co2e_g: float | None = None
    dram_co2e_g: float | None = None
    other_co2e_g: float | None = None

    @property
    def device_energy_j(self) -> float:
        """GPU + CPU + DRAM energy, and the share of unmeasured node parts, before PUE."""
        return self.gpu_energy_j + self.cpu_energy_j + self.dram_energy_j + self.other_energy_j

    @property
    def facility_energy_j(self) -> float:
        """Energy the facility drew for the job: device energy times PUE."""
        return self.device_energy_j * self.pue

    @property
    def estimated(self) -> bool:
        """Whether the figures are an estimate: estimated energy or a yearly-mean CI."""
        return self.quality == EnergyMethod.ESTIMATED or self.ci_annual
