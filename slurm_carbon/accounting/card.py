"""Reporting a footprint: an energy card for publications.

The card follows the reporting norms of Patterson et al. 2021 ("Carbon
Emissions and Large Neural Network Training"): accelerator type and count,
accelerator-hours, energy at the devices and at the facility, the PUE, the
region, the carbon-intensity source and kind, the emissions and the dates.
Annual means and estimated energy are marked as such.

Units: energy in kWh, emissions in grams CO2e, CI in gCO2e/kWh, hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slurm_carbon.accounting.equivalents import equivalents
from slurm_carbon.accounting.footprint import Footprint
from slurm_carbon.text import escape_control
from slurm_carbon.units import J_PER_KWH, format_co2e, format_energy, format_number
from slurm_carbon.vocabulary import CiKind, EnergyMethod

__all__ = ["EnergyCard", "energy_card"]

REFERENCE = "Patterson et al. 2021, Carbon Emissions and Large Neural Network Training"


def _energy(energy_kwh: float) -> str:
    return format_energy(energy_kwh * J_PER_KWH)


def _kind_label(kind: CiKind) -> str:
    return {
        CiKind.ACTUAL: "actual",
        CiKind.FORECAST: "forecast",
        CiKind.ANNUAL: "annual mean (estimate)",
    }[kind]


@dataclass(frozen=True)
class EnergyCard:
    """A publication energy card for one job (or a set of runs accounted together).

    Attributes:
        title: What was run, e.g. a job name or a paper's experiment.
        footprint: The figures.
        accelerator: The accelerator type, e.g. ``"NVIDIA A100-SXM4-40GB"``.
        accelerator_count: How many accelerators were used.
        accelerator_hours: Accelerator-hours. Units: hours.
        region: The grid region the CI is for.
        cluster: The cluster's name, if to be shown.
    """

    title: str
    footprint: Footprint
    accelerator: str
    accelerator_count: int
    accelerator_hours: float
    region: str
    cluster: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-ready dict (numbers unrounded, times ISO 8601)."""
        fp = self.footprint
        quality = fp.quality
        return {
            "schema": "slurm-carbon/energy-card/1",
            "title": self.title,
            "cluster": self.cluster,
            "reference": REFERENCE,
            "accelerator": {
                "type": self.accelerator,
                "count": self.accelerator_count,
                "hours": self.accelerator_hours,
            },
            "period": {
                "start": fp.start.isoformat() if fp.start else None,
                "end": fp.end.isoformat() if fp.end else None,
            },
            "energy_kwh": {
                "gpu": fp.gpu_kwh,
                "cpu": fp.cpu_kwh,
                "dram": fp.dram_kwh,
                "other": fp.other_kwh,
                "devices": fp.device_kwh,
                "facility": fp.facility_kwh,
            },
            "pue": fp.pue,
            "region": self.region,
            "carbon_intensity": {
                "mean_g_per_kwh": fp.ci_mean_g_per_kwh,
                "sources": list(quality.ci_sources),
                "kinds": {str(k): share for k, share in quality.ci_kinds.items()},
                "signal": str(quality.signal) if quality.signal else None,
                "estimated": quality.estimated_ci,
                "gap_share": quality.gap_share,
            },
            "co2e_g": fp.co2e_g,
            "quality": {
                "energy_methods": {str(m): share for m, share in quality.methods.items()},
                "energy_estimated": quality.methods.get(EnergyMethod.ESTIMATED, 0.0) > 0,
                "sharing": {str(s): share for s, share in quality.sharing.items()},
                "summary": fp.summary_quality(),
            },
            "equivalents": [
                {
                    "name": eq.name,
                    "description": eq.description,
                    "quantity": eq.quantity,
                    "source": eq.source,
                    "approximate": eq.approximate,
                }
                for eq in equivalents(fp.co2e_g)
            ],
        }

    def to_markdown(self) -> str:
        """The card as a Markdown table: figures in engineering units, outside text escaped.

        Figures go through :mod:`slurm_carbon.units` (``1,289 MWh``, ``553 t CO2e``); the
        title, accelerator, region and sources are someone else's text, shown with
        their control characters escaped (:func:`~slurm_carbon.text.escape_control`).
        """
        fp = self.footprint
        quality = fp.quality
        kinds = ", ".join(
            f"{_kind_label(k)} {100 * share:.0f} %" for k, share in quality.ci_kinds.items()
        )
        if quality.gap_share > 0:
            kinds += f"; {100 * quality.gap_share:.0f} % gap-filled (estimate)"
        methods = ", ".join(f"{m} {100 * s:.0f} %" for m, s in quality.methods.items())
        if quality.methods.get(EnergyMethod.ESTIMATED, 0.0) > 0:
            methods += " (includes estimates)"
        pue = fp.pue
        ci = fp.ci_mean_g_per_kwh
        dates = (
            f"{fp.start:%Y-%m-%d %H:%M} - {fp.end:%Y-%m-%d %H:%M} UTC"
            if fp.start and fp.end
            else "n/a"
        )
        rows = [
            ("Accelerator", f"{self.accelerator} x {self.accelerator_count}"),
            ("Accelerator-hours", f"{format_number(self.accelerator_hours)} h"),
            ("Dates", dates),
            (
                "Energy at the devices",
                f"{_energy(fp.device_kwh)} (GPU {_energy(fp.gpu_kwh)}, CPU {_energy(fp.cpu_kwh)},"
                f" DRAM {_energy(fp.dram_kwh)}, unmeasured parts {_energy(fp.other_kwh)})",
            ),
            ("PUE", f"{pue:.2f}" if pue is not None else "n/a"),
            ("Energy at the facility", _energy(fp.facility_kwh)),
            ("Region", self.region + (f" (cluster {self.cluster})" if self.cluster else "")),
            (
                "Carbon intensity",
                (f"{ci:.0f} gCO2e/kWh" if ci is not None else "n/a")
                + f" ({', '.join(quality.ci_sources) or 'n/a'}; {kinds or 'n/a'};"
                + f" {quality.signal or 'n/a'})",
            ),
            ("Emissions", f"{format_co2e(fp.co2e_g)} CO2e"),
            ("Energy measurement", methods or "n/a"),
        ]
        rows += [
            (f"About (approx.) {eq.description}", f"{format_number(eq.quantity)} ({eq.source})")
            for eq in equivalents(fp.co2e_g)
        ]
        lines = [
            f"### Energy card: {escape_control(self.title)}",
            "",
            "| Item | Value |",
            "| --- | --- |",
            *(f"| {name} | {escape_control(value).replace('|', '/')} |" for name, value in rows),
            "",
            f"Reporting after {REFERENCE}. Equivalents are approximations.",
        ]
        return "\n".join(lines) + "\n"


def energy_card(  # noqa: PLR0913 - keyword-only, one per field of the card
    footprint: Footprint,
    *,
    title: str,
    accelerator: str,
    accelerator_count: int,
    region: str,
    accelerator_hours: float | None = None,
    cluster: str | None = None,
) -> EnergyCard:
    """Build an energy card.

    Args:
        footprint: The figures.
        title: What was run.
        accelerator: Accelerator type, e.g. ``"NVIDIA A100-SXM4-40GB"``.
        accelerator_count: Accelerators used (>= 0).
        region: Grid region of the CI.
        accelerator_hours: Accelerator-hours; by default the count times the
            footprint's wall time. Units: hours.
        cluster: Cluster name to show.

    Returns:
        The card; render it with :meth:`EnergyCard.to_markdown` or :meth:`EnergyCard.to_dict`.

    Raises:
        ValueError: A negative count or hours.
    """
    if accelerator_count < 0 or (accelerator_hours is not None and accelerator_hours < 0):
        raise ValueError("accelerator count and hours must be >= 0")
    if accelerator_hours is None:
        wall_h = (
            (footprint.end - footprint.start).total_seconds() / 3600
            if footprint.start and footprint.end
            else 0.0
        )
        accelerator_hours = accelerator_count * wall_h
    return EnergyCard(
        title, footprint, accelerator, accelerator_count, accelerator_hours, region, cluster
    )
