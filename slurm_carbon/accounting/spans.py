"""The input of every accounting function: energy a job used on one kind of device over a span.

Units: energy in joules (``energy_j``); times are timezone-aware UTC datetimes.
A span covers ``[start, end)``; its energy is taken as spread evenly over it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

__all__ = ["EnergySpan"]


@dataclass(frozen=True)
class EnergySpan:
    """Energy used on one kind of device over ``[start, end)``.

    Strings are accepted for the enum fields (e.g. a store row's values) and
    converted, so ``EnergySpan("gpu", ...)`` works.

    Attributes:
        device_kind: GPU, CPU or DRAM.
        start: Start of the span (aware datetime; kept as given, compared in UTC).
        end: End of the span, after ``start``.
        energy_j: Energy used at the device over the span. Units: joules.
        method: How ``energy_j`` was obtained.
        sharing: Whether the device was the job's alone.

    Raises:
        ValueError: A naive datetime, ``end <= start`` or negative energy.
    """

    device_kind: DeviceKind
    start: datetime
    end: datetime
    energy_j: float
    method: EnergyMethod = EnergyMethod.COUNTER
    sharing: Sharing = Sharing.EXCLUSIVE

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("EnergySpan needs timezone-aware datetimes")
        if self.end <= self.start:
            raise ValueError(f"EnergySpan ends ({self.end}) before it starts ({self.start})")
        if not self.energy_j >= 0:  # also refuses NaN
            raise ValueError(f"EnergySpan energy_j must be >= 0, got {self.energy_j}")
        object.__setattr__(self, "device_kind", DeviceKind(self.device_kind))
        object.__setattr__(self, "method", EnergyMethod(self.method))
        object.__setattr__(self, "sharing", Sharing(self.sharing))

    @property
    def duration_s(self) -> float:
        """Length of the span. Units: seconds."""
        return (self.end - self.start).total_seconds()

    def shifted(self, offset: timedelta) -> EnergySpan:
        """The same span moved by ``offset``."""
        return replace(self, start=self.start + offset, end=self.end + offset)
