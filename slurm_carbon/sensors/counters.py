"""Deltas of cumulative hardware energy counters.

Two kinds of discontinuity happen in practice:

* **Wraparound** — RAPL's ``energy_uj`` counts up to ``max_energy_range_uj``
  and starts again from zero (every few minutes to hours on a busy package).
  The delta across one wrap is known exactly, provided the counter is read at
  least once per wrap period.
* **Reset** — NVML's total-energy counter restarts from zero when the driver
  reloads or the GPU is reset. It has no maximum, so a counter that went
  backwards carries no information about the energy of that sample: the
  caller must fall back to integrating power (``power_mw x dt``) for it.
"""

from __future__ import annotations

__all__ = ["counter_delta"]


def counter_delta(previous: int, current: int, max_value: int | None) -> int | None:
    """Return how much a cumulative counter advanced from ``previous`` to ``current``.

    Args:
        previous: The earlier reading.
        current: The later reading.
        max_value: The value at which the counter wraps to zero (RAPL's
            ``max_energy_range_uj``), or ``None`` for a counter that does not
            wrap (NVML's total energy).

    Returns:
        The advance, in the counter's own unit. When ``current < previous``:
        with a ``max_value`` the counter wrapped once and the delta is
        ``max_value - previous + current``; without one the counter was reset
        and the result is ``None`` — the energy of that sample is unknown and
        the caller falls back to integrating power for it. ``None`` is also
        returned when a reading exceeds ``max_value`` (not the counter
        described, so nothing can be inferred). Units: those of the counter
        (microjoules for RAPL, millijoules for NVML).

    Raises:
        ValueError: A reading or ``max_value`` is negative (a caller's bug,
            never a hardware state).

    A counter read less often than once per wrap period loses whole wraps;
    nothing here can detect that, so readers poll well within the period.
    """
    if previous < 0 or current < 0 or (max_value is not None and max_value <= 0):
        raise ValueError(
            f"counter readings must be non-negative and max positive, got "
            f"previous={previous} current={current} max_value={max_value}"
        )
    if current >= previous:
        if max_value is not None and current > max_value:
            return None
        return current - previous
    if max_value is None or previous > max_value:
        return None
    return max_value - previous + current
