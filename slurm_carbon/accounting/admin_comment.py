"""The AdminComment codec: our ``sc1:`` payload, encoded, found and merged with foreign text.

One module owns the format: the prefix, the payload written from a footprint,
finding our part in a job's AdminComment and merging ours with what another
tool wrote there (e.g. Princeton Jobstats' ``JS1:<base64>``). The comment is
split on whitespace; our part is the word that starts with :data:`PAYLOAD_PREFIX`,
compared lower-cased because Slurm 22.05's sacctmgr lower-cases the whole field.
A running job's payload (:func:`slurm_carbon.service.results.live_payload`) adds
``fc_co2e_g=`` (its forecast total emissions, once it reported progress) and
``live=1`` after the fields of :func:`comment_payload`; a job acted on for its
budget carries :data:`BUDGET_NOTE` too, while it runs and after it ended.

Units: emissions in grams CO2e, energy in kWh, CI in gCO2e/kWh.
"""

from __future__ import annotations

from slurm_carbon.accounting.footprint import Footprint
from slurm_carbon.units import round_sig

__all__ = [
    "BUDGET_NOTE",
    "PAYLOAD_PREFIX",
    "comment_payload",
    "has_foreign",
    "merge_admin_comment",
    "our_part",
]

PAYLOAD_PREFIX = "sc1:"
"""Version tag that opens every AdminComment payload we write."""

BUDGET_NOTE = "budget=over"
"""The payload's field for a job whose forecast total exceeded its budget and that
was acted on (notified or cancelled; :mod:`slurm_carbon.service.budgets`)."""


def comment_payload(footprint: Footprint) -> str:
    """The short, sacctmgr-safe summary written into a job's AdminComment.

    ``sc1:co2e_g=812.4;kwh=2.13;ci=381;pue=1.35;q=meas``: emissions (4
    significant figures), facility energy (3), mean CI (3), effective PUE (3)
    and the weakest energy method. ``co2e_g ~= kwh * ci``. Lower-case ASCII
    without spaces, quotes or ``|`` (Slurm 22.05's sacctmgr lower-cases it);
    ``na`` stands for a figure that does not exist (no energy). A figure from a
    synthetic carbon-intensity series (a demonstration) ends in ``;ci_src=synthetic``.

    Args:
        footprint: The job's footprint.

    Returns:
        The payload, at most about 80 characters.
    """
    ci = footprint.ci_mean_g_per_kwh
    pue = footprint.pue
    fields = [
        f"co2e_g={round_sig(footprint.co2e_g, 4)}",
        f"kwh={round_sig(footprint.facility_kwh, 3)}",
        f"ci={round_sig(ci, 3) if ci is not None else 'na'}",
        f"pue={round_sig(pue, 3) if pue is not None else 'na'}",
        f"q={footprint.summary_quality()}",
    ]
    if footprint.quality.ci_synthetic:
        fields.append("ci_src=synthetic")
    return PAYLOAD_PREFIX + ";".join(fields)


def _is_ours(word: str) -> bool:
    return word.lower().startswith(PAYLOAD_PREFIX)


def our_part(comment: str) -> str | None:
    """Our ``sc1:`` token in an AdminComment (the last one, compared lower-cased), if any."""
    ours = [word for word in comment.split() if _is_ours(word)]
    return ours[-1].lower() if ours else None


def has_foreign(comment: str) -> bool:
    """Whether an AdminComment holds anything besides our ``sc1:`` part."""
    return any(not _is_ours(word) for word in comment.split())


def merge_admin_comment(existing: str, payload: str) -> str:
    """The AdminComment holding ``payload``: ours replaced, anything foreign kept before it.

    >>> merge_admin_comment("", "sc1:co2e_g=1.0")
    'sc1:co2e_g=1.0'
    >>> merge_admin_comment("checked by ops sc1:co2e_g=9.9", "sc1:co2e_g=1.0")
    'checked by ops sc1:co2e_g=1.0'

    Raises:
        ValueError: ``payload`` does not start with :data:`PAYLOAD_PREFIX` or holds whitespace.
    """
    if not payload.startswith(PAYLOAD_PREFIX) or any(c.isspace() for c in payload):
        raise ValueError(f"not a payload of ours: {payload!r}")
    foreign = [w for w in existing.split() if not _is_ours(w)]
    return " ".join([*foreign, payload])
