"""The report's selection as text, and a job's quality word: shared by the CLI and the read API.

Inputs: job ids with array tasks (:func:`parse_jobs`) and names
(:func:`parse_names`); Slurm's times and states are parsed by
:mod:`slurm_carbon.slurm.times` and :mod:`slurm_carbon.slurm.states`. Every
parse error is a :class:`~slurm_carbon.errors.ConfigError` with a one-line message.
Nothing here touches the database: ``slurm-carbon report`` and the read API
(``/api/v1/jobs?jobs=...``) parse the same words the same way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from slurm_carbon.errors import ConfigError
from slurm_carbon.store.reports.query import JobSelector
from slurm_carbon.text import has_control, quote_input

if TYPE_CHECKING:
    from slurm_carbon.store.figures import JobFigures

__all__ = ["LIST_MAX", "SLURM_ID_MAX", "parse_jobs", "parse_names", "quality_text"]

LIST_MAX = 10_000
"""Most items of one -j/-u/-A/-r list: each is a query parameter, and SQLite allows 32,766 and
PostgreSQL 65,535 in one statement (a job id with an array task takes two)."""

SLURM_ID_MAX = 2**32 - 1
"""Largest Slurm job id: Slurm keeps job ids as ``uint32_t`` (the store's BIGINT holds it)."""

_JOB = re.compile(r"(\d{1,10})(?:([_+])(\d{1,10}))?", re.ASCII)


def parse_jobs(text: str) -> tuple[JobSelector, ...]:
    """Comma-separated job ids as sacct prints them.

    ``12`` (a job, every task of array 12 or every component of het job 12),
    ``12_3`` (one array task), ``12+1`` (one het job component).

    Raises:
        ConfigError: something else than such ids, an id (task, offset) above Slurm's uint32
            (:data:`SLURM_ID_MAX`), or more than :data:`LIST_MAX` of them.
    """
    items = _items(text, "job id")
    selectors: list[JobSelector] = []
    for item in items:
        match = _JOB.fullmatch(item)
        if match is None:
            raise ConfigError(
                f"invalid job id {quote_input(item)} (use e.g. 12, 12_3, 12+1 or 12,13)"
            )
        job, mark, part = match.groups()
        sub = None if part is None else int(part)
        if int(job) > SLURM_ID_MAX or (sub is not None and sub > SLURM_ID_MAX):
            raise ConfigError(
                f"job id {quote_input(item)} is out of Slurm's range (0 to {SLURM_ID_MAX})"
            )
        if mark == "+":
            selectors.append(JobSelector(int(job), het_job_offset=sub))
        else:
            selectors.append(JobSelector(int(job), sub))
    return tuple(selectors)


def parse_names(text: str, what: str = "name") -> tuple[str, ...]:
    """A comma-separated list of names (users, accounts, partitions), blanks around them dropped.

    Raises:
        ConfigError: no name at all, a name with a control character, or more than
            :data:`LIST_MAX` names.
    """
    names = _items(text, what)
    for name in names:
        if has_control(name):
            raise ConfigError(f"invalid {what} {quote_input(name)}: control characters")
    return names


def _items(text: str, what: str) -> tuple[str, ...]:
    """The non-blank items of a comma-separated list, at least one and at most LIST_MAX."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise ConfigError(f"no {what} given in {quote_input(text)}")
    if len(items) > LIST_MAX:
        raise ConfigError(f"{len(items):,} {what}s given; at most {LIST_MAX:,} at once")
    return items


def quality_text(figures: JobFigures | None) -> str:
    """``counter``, ``integrated`` or ``estimated``, plus ``+annual-ci``; ``pending`` without.

    Then ``+missing-nodes`` when a node of the job reported nothing (its energy is missing).
    """
    if figures is None:
        return "pending"
    missing = "+missing-nodes" if figures.missing_nodes else ""
    return figures.quality + ("+annual-ci" if figures.ci_annual else "") + missing
