"""What the node agents and the service both rely on about the caps channel.

The agent pulls its GPUs' caps (``GET /api/v1/caps``) every :data:`CAP_POLL_S`;
the service plans with that delay (a decision reaches a GPU up to one poll
late), and keeps a period's decision in force for :data:`DECISION_CARRY_S` after
the period while the next is not decided yet. A leaf module: both layers import
it, neither imports the other.
"""

from __future__ import annotations

__all__ = ["CAP_POLL_S", "DECISION_CARRY_S"]

#: How often the agent asks for its caps: the service decides per period (30 min by
#: default), so 30 s applies a decision within 2 % of its period and costs a node
#: one small request per 30 s. Units: seconds.
CAP_POLL_S = 30.0
#: How long a period's cap decision stays in force after its period while the next
#: period is not decided: the writer decides a period at its first sweep after the
#: period starts (``slurm-carbon writer --sweep-s``, 300 s by default), so twice that
#: default. Without it each period began with a gap in which an agent found no cap
#: and restored its GPUs. A writer that stops deciding leaves the last caps this
#: much longer, then the agents restore. Units: seconds.
DECISION_CARRY_S = 600.0
