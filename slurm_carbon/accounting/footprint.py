"""A job's footprint: energy by device kind, facility energy, emissions and their quality.

``co2e_g = sum over parts of E_t x CI_t x PUE_t``, where each part is a span's
share of one carbon-intensity period (see :mod:`.align`) and the PUE is the
one in force at the part's start.

Units: energy in kWh (``_kwh``) or joules (``_j``); carbon intensity in
gCO2e/kWh; emissions in grams CO2e; PUE dimensionless.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from slurm_carbon.accounting.align import align
from slurm_carbon.accounting.pue import PueLike, pue_function
from slurm_carbon.accounting.spans import EnergySpan
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.units import J_PER_KWH
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing

__all__ = ["Footprint", "Quality", "footprint"]

_METHOD_LABEL = {
    EnergyMethod.COUNTER: "meas",
    EnergyMethod.INTEGRATED: "int",
    EnergyMethod.ESTIMATED: "est",
}
_METHOD_ORDER = list(EnergyMethod)  # best first


@dataclass(frozen=True)
class Quality:
    """How a footprint's figures were obtained, as shares of the energy.

    Shares are fractions of the device energy (0..1) and add up to 1 when
    there is any energy; all mappings are empty when there is none.

    Attributes:
        methods: Share of the energy by how it was obtained.
        sharing: Share of the energy measured on exclusive or shared devices.
        ci_kinds: Share of the energy accounted with actual, forecast or annual CI.
        ci_sources: The sources of the CI figures used, sorted.
        ci_regions: The regions of the CI figures used, sorted.
        signal: Average or marginal (None without parts).
        gap_share: Share of the energy whose time no CI point covered (the
            nearest earlier point stood in).
        methods_present: Every method among the spans, even those with no energy.
        ci_synthetic: Whether some energy was accounted with a synthetic CI
            point (a demonstration's series, not data).
    """

    methods: Mapping[EnergyMethod, float]
    sharing: Mapping[Sharing, float]
    ci_kinds: Mapping[CiKind, float]
    ci_sources: tuple[str, ...]
    ci_regions: tuple[str, ...]
    signal: CiSignal | None
    gap_share: float
    methods_present: frozenset[EnergyMethod] = field(default_factory=frozenset)
    ci_synthetic: bool = False

    @property
    def weakest_method(self) -> EnergyMethod | None:
        """The weakest method behind the figures (None without spans)."""
        used = {m for m, share in self.methods.items() if share > 0} or set(self.methods_present)
        return max(used, key=_METHOD_ORDER.index) if used else None

    @property
    def any_shared(self) -> bool:
        """Whether any energy was measured on a device the job did not hold alone."""
        return self.sharing.get(Sharing.SHARED, 0.0) > 0

    @property
    def ci_annual(self) -> bool:
        """Whether a yearly mean stands in for some hour's CI."""
        return self.ci_kinds.get(CiKind.ANNUAL, 0.0) > 0

    @property
    def estimated_ci(self) -> bool:
        """Whether an annual mean or a gap-filled figure stands in for some hour's CI."""
        return self.ci_annual or self.gap_share > 0


@dataclass(frozen=True)
class Footprint:
    """A job's energy and emissions.

    Attributes:
        energy_kwh: Energy at the devices by kind (every kind present, 0 if
            unused). Units: kWh.
        facility_kwh: Device energy times PUE. Units: kWh.
        co2e_g: Emissions: the sum of ``co2e_g_by_kind``. Units: grams CO2e.
        ci_mean_g_per_kwh: Mean CI weighted by facility energy, so that
            ``co2e_g == facility_kwh * ci_mean_g_per_kwh`` (None without energy).
            Units: gCO2e/kWh.
        start: Start of the earliest span (None without spans).
        end: End of the latest span (None without spans).
        quality: How the figures were obtained.
        co2e_g_by_kind: Emissions by device kind (every kind present, 0 if
            unused), each part at its own CI and PUE: not the total split by
            energy share. Units: grams CO2e.
    """

    energy_kwh: Mapping[DeviceKind, float]
    facility_kwh: float
    co2e_g: float
    ci_mean_g_per_kwh: float | None
    start: datetime | None
    end: datetime | None
    quality: Quality
    co2e_g_by_kind: Mapping[DeviceKind, float]

    @property
    def device_kwh(self) -> float:
        """Energy at all devices. Units: kWh."""
        return sum(self.energy_kwh.values())

    @property
    def gpu_kwh(self) -> float:
        """Energy at the GPUs. Units: kWh."""
        return self.energy_kwh[DeviceKind.GPU]

    @property
    def cpu_kwh(self) -> float:
        """Energy at the CPUs. Units: kWh."""
        return self.energy_kwh[DeviceKind.CPU]

    @property
    def dram_kwh(self) -> float:
        """Energy at the DRAM. Units: kWh."""
        return self.energy_kwh[DeviceKind.DRAM]

    @property
    def other_kwh(self) -> float:
        """Energy of the node parts not measured (an estimate from a fixed power). Units: kWh."""
        return self.energy_kwh[DeviceKind.OTHER]

    @property
    def pue(self) -> float | None:
        """Effective PUE: facility over device energy (None without energy)."""
        device = self.device_kwh
        return self.facility_kwh / device if device > 0 else None

    def summary_quality(self) -> str:
        """One short label for the weakest energy method: ``meas``, ``int``, ``est`` or ``none``."""
        weakest = self.quality.weakest_method
        return _METHOD_LABEL[weakest] if weakest is not None else "none"


def _shares(totals: Mapping[str, float], total: float) -> dict[str, float]:
    if total <= 0:
        return {}
    return {key: value / total for key, value in totals.items()}


def footprint(spans: Iterable[EnergySpan], ci_points: Sequence[CiPoint], pue: PueLike) -> Footprint:
    """Compute a job's footprint from its energy spans, a CI series and the PUE.

    Args:
        spans: The job's energy spans (any order). With none, the footprint is zero.
        ci_points: One region's CI series (see :func:`.align.align`).
        pue: A constant, a series or a function of time (see :func:`.pue.pue_function`).

    Returns:
        The footprint with its quality.

    Raises:
        ValueError: Spans but no CI points; a bad series; a PUE below 1.

    Units: spans in joules; CI in gCO2e/kWh; result in kWh and grams CO2e.
    """
    spans = list(spans)
    pue_at = pue_function(pue)
    energy_j: dict[DeviceKind, float] = dict.fromkeys(DeviceKind, 0.0)
    co2e_by_kind_g: dict[DeviceKind, float] = dict.fromkeys(DeviceKind, 0.0)
    by_method: dict[str, float] = defaultdict(float)
    by_sharing: dict[str, float] = defaultdict(float)
    by_kind: dict[str, float] = defaultdict(float)
    sources: set[str] = set()
    regions: set[str] = set()
    signals: set[CiSignal] = set()
    gap_j = facility_j = 0.0
    synthetic = False
    parts = align(spans, ci_points) if spans else []
    for part in parts:
        factor = pue_at(part.start)
        part_facility_j = part.energy_j * factor
        energy_j[part.span.device_kind] += part.energy_j
        facility_j += part_facility_j
        co2e_by_kind_g[part.span.device_kind] += (
            part_facility_j / J_PER_KWH * part.point.ci_g_per_kwh
        )
        by_method[part.span.method] += part.energy_j
        by_sharing[part.span.sharing] += part.energy_j
        by_kind[part.point.kind] += part.energy_j
        if part.gap:
            gap_j += part.energy_j
        sources.add(part.point.source)
        regions.add(part.point.region)
        signals.add(part.point.signal)
        synthetic = synthetic or part.point.synthetic
    device_j = sum(energy_j.values())
    quality = Quality(
        methods={EnergyMethod(k): v for k, v in _shares(by_method, device_j).items()},
        sharing={Sharing(k): v for k, v in _shares(by_sharing, device_j).items()},
        ci_kinds={CiKind(k): v for k, v in _shares(by_kind, device_j).items()},
        ci_sources=tuple(sorted(sources)),
        ci_regions=tuple(sorted(regions)),
        signal=next(iter(signals)) if signals else None,
        gap_share=gap_j / device_j if device_j > 0 else 0.0,
        methods_present=frozenset(span.method for span in spans),
        ci_synthetic=synthetic,
    )
    facility_kwh = facility_j / J_PER_KWH
    co2e_g = sum(co2e_by_kind_g.values())  # the kinds add up to the total exactly
    return Footprint(
        energy_kwh={kind: joules / J_PER_KWH for kind, joules in energy_j.items()},
        facility_kwh=facility_kwh,
        co2e_g=co2e_g,
        ci_mean_g_per_kwh=co2e_g / facility_kwh if facility_kwh > 0 else None,
        start=min((s.start for s in spans), default=None),
        end=max((s.end for s in spans), default=None),
        quality=quality,
        co2e_g_by_kind=co2e_by_kind_g,
    )
