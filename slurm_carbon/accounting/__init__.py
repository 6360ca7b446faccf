"""Pure accounting: energy spans x carbon intensity x PUE -> a job's figures.

No I/O here: callers (the service, the CLI) load spans, CI series and the PUE
and pass them in.

- :mod:`.spans`: :class:`EnergySpan`, the input.
- :mod:`.pue`: a PUE constant, series or function of time.
- :mod:`.align`: spans split over the CI series' periods (best kind wins, gaps marked).
- :mod:`.coverage`: the share of a job's node-time its intervals cover; silent nodes.
- :mod:`.footprint`: kWh by device kind, facility kWh, gCO2e, mean CI, quality.
- :mod:`.counterfactual`: the same profile at another start or in another region.
- :mod:`.card`: the publication energy card.
- :mod:`.admin_comment`: the AdminComment codec (``sc1:`` payload; find ours, merge).
- :mod:`.equivalents`: everyday equivalents (approximations, with cited factors).

Units: energy in joules or kWh, CI in gCO2e/kWh, emissions in grams CO2e.
"""

from slurm_carbon.accounting.admin_comment import comment_payload
from slurm_carbon.accounting.align import AlignedPart, CiTimeline, align, best_timeline
from slurm_carbon.accounting.card import EnergyCard, energy_card
from slurm_carbon.accounting.counterfactual import (
    Counterfactual,
    cleanest_start,
    in_region,
    shifted,
)
from slurm_carbon.accounting.coverage import JobCoverage, NodeCoverage, NodeSpan, node_coverage
from slurm_carbon.accounting.equivalents import Equivalent, equivalents
from slurm_carbon.accounting.footprint import Footprint, Quality, footprint
from slurm_carbon.accounting.pue import PueLike, PueSeries, pue_function
from slurm_carbon.accounting.spans import EnergySpan

__all__ = [
    "AlignedPart",
    "CiTimeline",
    "Counterfactual",
    "EnergyCard",
    "EnergySpan",
    "Equivalent",
    "Footprint",
    "JobCoverage",
    "NodeCoverage",
    "NodeSpan",
    "PueLike",
    "PueSeries",
    "Quality",
    "align",
    "best_timeline",
    "cleanest_start",
    "comment_payload",
    "energy_card",
    "equivalents",
    "footprint",
    "in_region",
    "node_coverage",
    "pue_function",
    "shifted",
]
