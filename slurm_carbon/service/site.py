"""Site policy: where a job's electricity came from, and the facility's overhead.

:class:`Site` is what the result, the report's detail view and the writer ask
of a site (region of a partition and node, PUE of a partition at a time, fixed
power of a node's unmeasured parts); :class:`StaticSite` is one answer for
every partition and node.

Units: power in watts; PUE dimensionless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Site", "StaticSite"]


class Site(Protocol):
    """Where a job's electricity came from, and the facility's overhead."""

    def region_for(self, partition: str, node: str) -> str:
        """The carbon-intensity region of a node of a partition."""
        ...

    def pue_at(self, partition: str, when: datetime) -> float:
        """The PUE of a partition at a time (dimensionless, >= 1)."""
        ...

    def unmeasured_power_w(self, node: str) -> float | None:
        """Fixed power of a node's parts not measured, if configured. Units: watts."""
        ...


@dataclass(frozen=True)
class StaticSite:
    """One region and one PUE for every partition and node."""

    region: str
    pue: float = 1.0
    node_unmeasured_power_w: float | None = None

    def region_for(self, partition: str, node: str) -> str:
        """The one region."""
        return self.region

    def pue_at(self, partition: str, when: datetime) -> float:
        """The one PUE."""
        return self.pue

    def unmeasured_power_w(self, node: str) -> float | None:
        """The one fixed power of unmeasured node parts, if any."""
        return self.node_unmeasured_power_w
