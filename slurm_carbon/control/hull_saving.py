"""What a capped job's caps saved against the static-cap hull, an estimate: pure, no I/O.

The counterfactual is the same work run at the same total slowdown (the same
run length) on the lower hull of the job's profile (:mod:`.hull`): each
profiled limit is a point (slowdown against the highest limit, energy per unit
of work), and the best carbon-agnostic mix of fixed caps at the job's slowdown
is the hull there. Its energy is the work times the hull's energy per unit of
work, scaled to the job's measured GPU energy by the ratio of the profile's
energy at the hull to the profile's energy under the caps the job actually had,
so that a profile that reads high or low cancels out. A static cap draws
steady power, so its energy is spread evenly over the run and its CO2e is at
the time-weighted mean carbon intensity of the run; the job's own CO2e weighs
each part's energy by that part's intensity.

The actual mix of caps lies on or above the hull, so at the mean intensity the
static cap never uses more energy: what caps save comes from *when* the energy
was used (less of it in dirty hours), and the figure is negative when a job was
capped in the clean hours instead.

Units: seconds, watts, joules, gCO2e/kWh, grams CO2e; times aware UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slurm_carbon.control.hull import hull_at, lower_hull
from slurm_carbon.sensors.profiles import PowerProfile
from slurm_carbon.units import J_PER_KWH

__all__ = ["HullSaving", "SavingSpan", "hull_saving"]


@dataclass(frozen=True, slots=True)
class SavingSpan:
    """Energy one GPU of a job used over ``[start, end)``, its limit and the intensity then.

    Attributes:
        start: Start of the span (aware UTC).
        end: Its end.
        cap_w: The limit in force; None: not known (counted as the profile's
            highest, as :mod:`.slowdown` does). Units: watts.
        energy_j: Measured energy. Units: joules.
        ci_g_per_kwh: The grid's carbon intensity over the span. Units: gCO2e/kWh.
    """

    start: datetime
    end: datetime
    cap_w: float | None
    energy_j: float
    ci_g_per_kwh: float


@dataclass(frozen=True, slots=True)
class HullSaving:
    """A job's GPU CO2e against the static-cap hull at its slowdown (an estimate).

    Attributes:
        saved_co2e_g: ``static_co2e_g - co2e_g`` (negative: the hull did better).
        co2e_g: The job's GPU CO2e, each span at its own intensity, times PUE.
        static_co2e_g: The hull's, at the run's time-weighted mean intensity.
        static_energy_j: The hull's GPU energy, scaled to the measured energy.
        slowdown: The job's slowdown against its profile's highest limit.
    """

    saved_co2e_g: float
    co2e_g: float
    static_co2e_g: float
    static_energy_j: float
    slowdown: float


def hull_saving(
    spans: Sequence[SavingSpan], profile: PowerProfile, pue: float
) -> HullSaving | None:
    """What the job's caps saved against the hull at its slowdown; None when there is no figure.

    Spans over the same ``[start, end)`` (a job's GPUs) are one time slot: their
    energies add, their limits are averaged. No figure: no span with a known
    limit (never capped), no time, no work or no energy.
    """
    if all(s.cap_w is None for s in spans):
        return None
    slots: dict[tuple[datetime, datetime], list[SavingSpan]] = defaultdict(list)
    for span in spans:
        slots[(span.start, span.end)].append(span)
    top = profile.at(profile.max_limit_w).throughput
    run_s = work_s = profile_j = energy_j = co2e_g = ci_time = 0.0
    for (start, end), group in slots.items():
        seconds = (end - start).total_seconds()
        caps = [s.cap_w for s in group if s.cap_w is not None]
        point = profile.at(sum(caps) / len(caps) if caps else profile.max_limit_w)
        slot_j = sum(s.energy_j for s in group)
        run_s += seconds
        work_s += seconds * point.throughput / top
        profile_j += seconds * point.power_w
        energy_j += slot_j
        co2e_g += sum(s.energy_j * s.ci_g_per_kwh for s in group) / J_PER_KWH * pue
        ci_time += seconds * group[0].ci_g_per_kwh
    if run_s <= 0 or work_s <= 0 or energy_j <= 0 or profile_j <= 0:
        return None
    slowdown = run_s / work_s - 1
    # Energy per second of work at the highest limit, against the slowdown, per limit.
    hull = lower_hull(
        [(top / p.throughput - 1, p.power_w * top / p.throughput) for p in profile.points]
    )
    static_j = energy_j * work_s * hull_at(hull, slowdown) / profile_j
    static_co2e_g = static_j / J_PER_KWH * (ci_time / run_s) * pue
    return HullSaving(static_co2e_g - co2e_g, co2e_g, static_co2e_g, static_j, slowdown)
