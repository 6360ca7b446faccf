"""The words of a job's detail, shared by ``report -j ID`` and the dashboard's job page.

Each function words one part of a :class:`~slurm_carbon.service.detail.JobDetail`
in one line: a silent node's coverage, a capped job's slowdown against its own
profile, a ``carbon_defer`` job's deferral. They live below the CLI so that the
service's pages (which import nothing from ``slurm_carbon.cli``) say the same.

Units: figures as :func:`~slurm_carbon.units.format_co2e` shows them; times to
the minute, in the host's local time zone unnamed (as ``sacct`` shows them), or
in a zone given and named (the dashboard's UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from slurm_carbon.accounting.job_words import DEFER_KEY
from slurm_carbon.slurm.times import format_elapsed
from slurm_carbon.store.deferrals import DeferralRecord
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.units import format_co2e

__all__ = ["MAX_CAP_ROWS", "coverage_text", "deferral_text", "slowdown_text"]

#: The most rows of a power-cap table, in ``report -j`` and on the job page: the
#: latest runs (a day of half-hour periods; ``--json`` and the read API have them all).
MAX_CAP_ROWS = 48


def coverage_text(figures: JobFigures) -> str | None:
    """The result's coverage in one line when a node of the job reported nothing; else None.

    The share is of the job's node-time (its run time times its nodes) that the
    stored intervals cover; the silent nodes' energy is missing, not estimated.
    """
    share = figures.node_coverage
    if share is None or not figures.missing_nodes:
        return None
    return (
        f"{share * 100:.0f} % of node-time; no energy from {figures.missing_nodes}"
        " (missing, not estimated)"
    )


def slowdown_text(figures: JobFigures | None) -> str | None:
    """A capped job's slowdown against its own profile, stored with its result; else None."""
    if figures is None or figures.slowdown is None or figures.nominal_s is None:
        return None
    nominal = timedelta(seconds=round(figures.nominal_s))
    run = timedelta(seconds=round(figures.nominal_s * (1 + figures.slowdown)))
    return (
        f"Slowdown {100 * figures.slowdown:.1f} % against its own profile"
        f" ({figures.slowdown_profile}), an estimate: {format_elapsed(run)} run"
        f" for {format_elapsed(nominal)} of work at the profile's highest limit."
    )


# carbon_defer's units, largest first, as the lua reads them: a delay shown as it was asked.
_DEFER_UNITS_S = (("d", 86400), ("h", 3600), ("m", 60))


def _defer_word(asked_s: int) -> str:
    unit, size = next(((u, s) for u, s in _DEFER_UNITS_S if asked_s % s == 0), ("s", 1))
    return f"{DEFER_KEY}={asked_s // size}{unit}"


def _local(moment: datetime, zone: tzinfo | None) -> str:
    if zone is None:
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def deferral_text(deferral: DeferralRecord, zone: tzinfo | None = None) -> str:
    """One line: how long the job was deferred, the saving expected and the one measured.

    Times are in ``zone``, named; without one, in the host's local zone, unnamed.
    """
    held = deferral.eligible_time
    by = "(begin time not known)" if held is None else format_elapsed(held - deferral.submit_time)
    if deferral.expected_saving_pct is None or deferral.forecast_issued is None:
        expected = "no expected saving (no forecast stored at submission)"
    elif deferral.first_seen:
        expected = (
            f"expected ~{deferral.expected_saving_pct:.0f} % less (forecast"
            f" {deferral.forecast_source} issued {_local(deferral.forecast_issued, zone)},"
            " when the job was first seen)"
        )
    else:
        expected = (
            f"expected ~{deferral.expected_saving_pct:.0f} % less (recomputed from the forecast"
            f" {deferral.forecast_source} issued {_local(deferral.forecast_issued, zone)})"
        )
    saving_g, saving_pct = deferral.measured_saving_g, deferral.measured_saving_pct
    if saving_g is None:
        measured = "not measured yet"
    else:
        more = "less" if saving_g >= 0 else "more"
        pct = "" if saving_pct is None else f"{abs(saving_pct):.0f} % "
        measured = (
            f"measured {pct}{more} ({format_co2e(abs(saving_g))}) than starting at submission"
            f" ({_local(deferral.counterfactual_start, zone)}), an estimate: the job's energy"
            " profile moved in time"
        )
    return f"Deferred {by} by {_defer_word(deferral.asked_s)}: {expected}, {measured}."
