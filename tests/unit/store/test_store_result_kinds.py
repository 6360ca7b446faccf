"""A result's CO2e by device kind (revision 0020): saved, read back, all four or none, >= 0."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slurm_carbon.store.reports import ReportQuery, iter_jobs
from slurm_carbon.store.results import get_result, save_result
from tests.builders import job_figures

from .conftest import T0


def _split(**changes: float | None) -> dict[str, Any]:
    """30 g of a job split 18 / 7.5 / 3 / 1.5 g (GPU, CPU, DRAM, other), ``changes`` made."""
    return {
        "gpu_co2e_g": 18.0,
        "cpu_co2e_g": 7.5,
        "dram_co2e_g": 3.0,
        "other_co2e_g": 1.5,
    } | changes


def test_the_split_is_saved_and_read_back_by_the_report(session: Session, ids: Any) -> None:
    saved = dataclasses.replace(job_figures(T0), **_split())
    save_result(session, ids.job_id, saved)

    row = get_result(session, ids.job_id)
    assert row is not None
    assert (row.gpu_co2e_g, row.cpu_co2e_g, row.dram_co2e_g, row.other_co2e_g) == (
        18.0,
        7.5,
        3.0,
        1.5,
    )
    (job,) = iter_jobs(session, ReportQuery())
    assert job.figures == saved


def test_a_result_settled_before_the_split_keeps_none(session: Session, ids: Any) -> None:
    save_result(session, ids.job_id, job_figures(T0))

    (job,) = iter_jobs(session, ReportQuery())
    assert job.figures is not None
    assert job.figures.gpu_co2e_g is None
    assert job.figures.other_co2e_g is None


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"cpu_co2e_g": None}, "co2e_g_split_whole"),
        ({"gpu_co2e_g": None, "cpu_co2e_g": None, "dram_co2e_g": None}, "co2e_g_split_whole"),
        ({"dram_co2e_g": -0.5}, "co2e_g_split_nonnegative"),
    ],
)
def test_a_partial_or_negative_split_is_refused(
    session: Session, ids: Any, changes: dict[str, Any], constraint: str
) -> None:
    with pytest.raises(IntegrityError) as caught:
        save_result(session, ids.job_id, dataclasses.replace(job_figures(T0), **_split(**changes)))
    session.rollback()
    assert constraint in str(caught.value.orig).lower()
