"""A node that never reported for a job: missing coverage in its result, never a smaller whole.

Both databases (the ``session`` fixture): a 2-node job of one hour whose second
node's agent was down. Its result keeps the reporting node's energy, says 50 %
of its node-time was covered and names the silent node.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jsonschema
import pytest
from sqlalchemy.orm import Session

from slurm_carbon.cli.report_json import REPORT_JSON_SCHEMA
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.api.documents import job_json
from slurm_carbon.service.api.rows import job_row
from slurm_carbon.service.detail import job_nodes
from slurm_carbon.service.results import settle_result
from slurm_carbon.service.site import StaticSite
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store.ingest import ReportedDevice, ReportedInterval, ingest_batch
from slurm_carbon.store.reports import JobRow, ReportQuery, iter_jobs
from slurm_carbon.store.reports.filters import parse_jobs, quality_text
from slurm_carbon.store.results import find_job, get_result
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing
from tests.builders import JOB_START, job_figures, slurm_job

SITE = StaticSite("SE", 1.0)
END = JOB_START + timedelta(hours=1)
GPU = ReportedDevice("GPU-cov0", DeviceKind.GPU, model="Simulated V100", minor=0)
#: Each minute's energy on a reporting node: 300 W for 60 s. Units: joules.
MINUTE_J = 18_000.0


class Flat:
    """100 gCO2e/kWh at every hour."""

    name = "flat"

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        hour = start.replace(minute=0, second=0, microsecond=0)
        return [
            CiPoint(
                region,
                hour + timedelta(hours=h),
                3600,
                100.0,
                "flat",
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                hour,
            )
            for h in range(3)
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable(f"no forecast for {region} from {start} ({hours} h)")


def job(raw: int, node_list: str) -> SlurmJob:
    return slurm_job(raw, end_time=END, elapsed_s=3600, node_list=node_list)


def report(session: Session, raw: int, node: str, minutes: range) -> None:
    """One GPU interval a minute from ``node`` for job ``raw``."""
    intervals = [
        ReportedInterval(
            raw,
            GPU,
            JOB_START + timedelta(minutes=m),
            JOB_START + timedelta(minutes=m + 1),
            MINUTE_J,
            EnergyMethod.COUNTER,
            Sharing.EXCLUSIVE,
        )
        for m in minutes
    ]
    ingest_batch(session, "sclocal", node, intervals)
    session.commit()


def test_a_silent_node_is_named_and_half_the_node_time_covered(session: Session) -> None:
    report(session, 301, "scn1", range(60))

    values = settle_result(session, job(301, "scn[1-2]"), SITE, Flat(), END).values
    session.commit()

    assert values.gpu_energy_j == pytest.approx(60 * MINUTE_J)  # scn1's, not a pretend whole
    assert values.node_coverage == pytest.approx(0.5)
    assert values.missing_nodes == "scn2"
    stored = find_job(session, "sclocal", 301)
    assert stored is not None
    row = get_result(session, stored.id)
    assert row is not None
    assert (row.node_coverage, row.missing_nodes) == (pytest.approx(0.5), "scn2")


def test_every_node_reporting_is_whole_and_a_gap_shows_in_the_share(session: Session) -> None:
    report(session, 302, "scn1", range(60))
    report(session, 302, "scn2", range(30))  # its agent stopped half-way

    values = settle_result(session, job(302, "scn[1-2]"), SITE, Flat(), END).values

    assert values.node_coverage == pytest.approx(0.75)
    assert values.missing_nodes is None


def test_a_one_node_job_that_reported_throughout_is_whole(session: Session) -> None:
    report(session, 303, "scn1", range(60))

    values = settle_result(session, job(303, "scn1"), SITE, Flat(), END).values

    assert (values.node_coverage, values.missing_nodes) == (1.0, None)


def test_the_json_item_and_the_list_quality_say_it_and_read_back() -> None:
    figures = job_figures(END, ci_annual=True, node_coverage=0.5, missing_nodes="scn2")
    row = JobRow(1, 301, None, None, "x", "u", "a", "p", "COMPLETED", JOB_START, END, 2, figures)

    item = job_json(row)

    assert quality_text(figures) == "counter+annual-ci+missing-nodes"
    assert (item["quality"], item["node_coverage"], item["missing_nodes"]) == (
        "counter+annual-ci+missing-nodes",
        0.5,
        "scn2",
    )
    jsonschema.validate({"jobs": [item]}, _jobs_only(REPORT_JSON_SCHEMA))
    back = job_row(item).figures
    assert back is not None
    assert (back.quality, back.ci_annual, back.node_coverage, back.missing_nodes) == (
        EnergyMethod.COUNTER,
        True,
        0.5,
        "scn2",
    )


def _jobs_only(schema: dict[str, Any]) -> dict[str, Any]:
    """The report schema with only ``jobs`` required."""
    return {**schema, "required": ["jobs"]}


def test_a_json_item_carries_its_nodes_with_a_silent_one(session: Session) -> None:
    report(session, 304, "scn1", range(60))
    settle_result(session, job(304, "scn[1-2]"), SITE, Flat(), END)
    session.commit()
    [row] = list(iter_jobs(session, ReportQuery(jobs=parse_jobs("304"))))

    item = job_json(row, nodes=job_nodes(session, row))

    assert [(n["node"], n["energy_j"], n["coverage_pct"]) for n in item["nodes"]] == [
        ("scn1", pytest.approx(60 * MINUTE_J), pytest.approx(100.0)),
        ("scn2", 0.0, 0.0),
    ]
    assert item["nodes"][0]["co2e_g"] == pytest.approx(item["co2e_g"])
    jsonschema.validate({"jobs": [item]}, _jobs_only(REPORT_JSON_SCHEMA))
