"""What the node agents and the service both rely on about the caps channel.

The agent pulls its GPUs' caps (``GET /api/v1/caps``) every :data:`CAP_POLL_S`;
the service plans with that delay (a decision reaches a GPU up to one poll
late). A leaf module: both layers import it, neither imports the other.
"""

from __future__ import annotations

__all__ = ["CAP_POLL_S"]

#: How often the agent asks for its caps: the service decides per period (30 min by
#: default), so 30 s applies a decision within 2 % of its period and costs a node
#: one small request per 30 s. Units: seconds.
CAP_POLL_S = 30.0
