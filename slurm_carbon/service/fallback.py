"""Said loudly: figures that fell back to the yearly mean although hourly figures exist.

A job is accounted with the embedded annual mean when no stored or live hourly
series covers its run. Where nothing else is configured that is the expected
default, marked ``~``. But where the store holds hourly figures for the job's
region (an imported or replayed trace, or a provider's polled actuals), the
fallback means the series missed the job: a replayed trace shifted away from
today, a provider that stopped answering. The writer's log, the report and the
demo say so in words::

    note = annual_fallback(session, "GB", annual=True)
    # "YEARLY MEAN carbon intensity for GB although hourly figures are stored for it
    #  (t.csv (replayed): 2026-11-30T00:00:00+00:00 to ...): none covered the run"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from slurm_carbon.store import Session
from slurm_carbon.store.intensity import ci_summary
from slurm_carbon.store.reports import JobRow
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import CiKind as StoredKind

__all__ = ["annual_fallback", "annual_fallbacks", "fallback_lines"]


def annual_fallback(session: Session, region: str | None, *, annual: bool) -> str | None:
    """A loud sentence if figures used the annual mean (``annual``) and ``region`` has hourly ones.

    None when the figures did not use the annual mean, or nothing hourly is
    stored for the region (the annual mean is then the configured default).
    """
    if region is None or not annual:
        return None
    stored = [s for s in ci_summary(session, region) if s.kind is StoredKind.ACTUAL]
    if not stored:
        return None
    series = "; ".join(
        f"{s.source}: {s.first.isoformat()} to {s.last.isoformat()}" for s in stored[:3]
    )
    return escape_control(
        f"YEARLY MEAN carbon intensity for {region} although hourly figures are stored for it"
        f" ({series}): none covered the run"
    )


def annual_fallbacks(session: Session, rows: Iterable[JobRow]) -> list[str]:
    """One loud line per region for the report's rows that fell back, naming their jobs."""
    return fallback_lines(rows, lambda region: annual_fallback(session, region, annual=True))


def fallback_lines(rows: Iterable[JobRow], note_of: Callable[[str], str | None]) -> list[str]:
    """:func:`annual_fallbacks` with each region's sentence from ``note_of`` (None: no line).

    The read API sends the sentences of a page's regions; the report's client joins them here.
    """
    jobs: dict[str, list[str]] = {}
    notes: dict[str, str | None] = {}
    for row in rows:
        figures = row.figures
        if figures is None or figures.ci_region is None or not figures.ci_annual:
            continue
        region = figures.ci_region
        if region not in notes:
            notes[region] = note_of(region)
        if notes[region] is not None:
            jobs.setdefault(region, []).append(row.job_id_text)
    return [
        f"{notes[region]} of job(s) {escape_control(', '.join(ids))}."
        for region, ids in jobs.items()
    ]
