"""``report -j``: a job with a silent node says so in one line, with its share of node-time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rich.console import Console

from slurm_carbon.cli.report_detail import show_job
from slurm_carbon.service.detail import JobDetail
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.reports import JobRow
from tests.builders import job_figures

START = datetime(2026, 12, 1, 10, tzinfo=UTC)
FIGURES = job_figures(START + timedelta(hours=1))


def shown(figures: JobFigures) -> list[str]:
    row = JobRow(
        1,
        301,
        None,
        None,
        "train",
        "alice",
        "a",
        "gpu",
        "COMPLETED",
        START,
        START + timedelta(hours=1),
        4,
        figures,
        node_list="scn[1-2]",
    )
    console = Console(record=True, width=120)
    show_job(console, JobDetail(row, [], []))
    return [" ".join(line.split()) for line in console.export_text().splitlines()]


def test_a_silent_node_is_one_line_naming_it_with_the_share_covered() -> None:
    lines = shown(replace(FIGURES, node_coverage=0.4986, missing_nodes="scn2"))
    found = [line for line in lines if line.startswith("Coverage")]
    assert found == ["Coverage 50 % of node-time; no energy from scn2 (missing, not estimated)"]


def test_a_job_whose_nodes_all_reported_has_no_coverage_line_even_with_gaps() -> None:
    for figures in (FIGURES, replace(FIGURES, node_coverage=0.5)):
        assert not [line for line in shown(figures) if "Coverage" in line]
