"""store_job keeps the ids sacct names a job by: array tasks and het job components."""

from __future__ import annotations

from pathlib import Path

from slurm_carbon.service.results import store_job
from slurm_carbon.slurm.commands import parse_sacct
from slurm_carbon.store import Session
from slurm_carbon.store.reports import ReportQuery, iter_jobs
from slurm_carbon.store.reports.filters import parse_jobs

RECORDED = Path(__file__).parents[2] / "fixtures" / "slurm"


def test_het_components_are_stored_by_raw_id_and_listed_as_sacct_names_them(
    session: Session,
) -> None:
    for job in parse_sacct((RECORDED / "sacct_het_components.txt").read_text(), delimiter="\x1f"):
        store_job(session, job)

    rows = list(iter_jobs(session, ReportQuery()))
    listed = [(row.slurm_job_id, row.job_id_text, row.node_list) for row in rows]
    assert listed == [(899, "899+0", "scn1"), (900, "899+1", "scn2")]
    one = list(iter_jobs(session, ReportQuery(jobs=parse_jobs("899+1"))))
    assert [row.slurm_job_id for row in one] == [900]
