"""store.reports: the read side of ``slurm-carbon report``, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from slurm_carbon.store import (
    CarbonIntensityPoint,
    JobResult,
    NewInterval,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    upsert_job,
)
from slurm_carbon.store.budgets import BudgetActionRecord, record_budget_action
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.intensity import ci_series
from slurm_carbon.store.reports import (
    JobRow,
    JobSelector,
    ReportQuery,
    foreign_jobs,
    iter_jobs,
    job_timeline,
    totals,
)
from slurm_carbon.store.results import job_intervals, save_result
from slurm_carbon.vocabulary import (
    BudgetAction,
    BudgetKind,
    BudgetOutcome,
    CiKind,
    CiSignal,
    DeviceKind,
    EnergyMethod,
    Sharing,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _job(
    session: Session,
    slurm_job_id: int,
    *,
    user: str = "alice",
    partition: str = "gpu",
    state: str = "COMPLETED",
    end: datetime = T0,
    co2e_g: float | None = 10.0,
    array: tuple[int, int] | None = None,
    het: tuple[int, int] | None = None,
) -> int:
    cluster = get_or_create_cluster(session, "tc")
    job = upsert_job(
        session,
        cluster.id,
        slurm_job_id,
        array_job_id=array[0] if array else None,
        array_task_id=array[1] if array else None,
        het_job_id=het[0] if het else None,
        het_job_offset=het[1] if het else None,
        user_name=user,
        account="acct",
        partition=partition,
        state=state,
        start_time=end - timedelta(hours=1),
        end_time=end,
    )
    if co2e_g is not None:
        session.add(
            JobResult(
                job_id=job.id,
                gpu_energy_j=3.6e6,
                cpu_energy_j=0.0,
                dram_energy_j=0.0,
                co2e_g=co2e_g,
                pue=2.0,
                ci_mean_g_per_kwh=co2e_g / 2.0,
                ci_region="SE",
                ci_source="trace",
                quality=EnergyMethod.COUNTER,
                sharing=Sharing.EXCLUSIVE,
                computed_at=end,
            )
        )
    session.flush()
    return job.id


def test_rows_are_plain_dataclasses_with_figures_or_none(session: Session) -> None:
    _job(session, 1)
    _job(session, 2, co2e_g=None)

    rows = list(iter_jobs(session, ReportQuery()))

    assert [row.slurm_job_id for row in rows] == [1, 2]
    assert all(type(row) is JobRow and dataclasses.is_dataclass(row) for row in rows)
    assert rows[0].figures is not None
    assert rows[0].figures.facility_energy_j == pytest.approx(7.2e6)
    assert rows[0].figures.quality == "counter"
    assert rows[0].elapsed == timedelta(hours=1)
    assert rows[1].figures is None


def test_filters_are_applied_in_sql(session: Session) -> None:
    _job(session, 1, user="alice", end=T0)
    _job(session, 2, user="bob", end=T0)
    _job(session, 3, user="alice", end=T0 + timedelta(days=40), partition="cpu")
    _job(session, 4, user="alice", state="CANCELLED by 0", end=T0)
    _job(session, 5, user="alice", state="CANCELLEDX", end=T0)

    def ids(query: ReportQuery) -> list[int]:
        return [row.slurm_job_id for row in iter_jobs(session, query)]

    assert ids(ReportQuery(users=("alice",), start=T0, end=T0 + timedelta(days=1))) == [1, 4, 5]
    assert ids(ReportQuery(partitions=("cpu",))) == [3]
    assert ids(ReportQuery(states=("CANCELLED",))) == [4]
    assert ids(ReportQuery(users=("bob", "alice"), states=("COMPLETED",), end=T0)) == [1, 2]


def test_selectors_name_jobs_arrays_and_tasks(session: Session) -> None:
    _job(session, 7)
    _job(session, 11, array=(10, 1))
    _job(session, 12, array=(10, 2))

    def ids(*selectors: JobSelector) -> list[str]:
        return [row.job_id_text for row in iter_jobs(session, ReportQuery(jobs=selectors))]

    assert ids(JobSelector(10)) == ["10_1", "10_2"]
    assert ids(JobSelector(10, 2)) == ["10_2"]
    assert ids(JobSelector(7), JobSelector(10, 1)) == ["7", "10_1"]
    assert ids(JobSelector(99)) == []
    assert str(JobSelector(10, 2)) == "10_2"


def test_het_components_are_named_and_selected_as_sacct_does(session: Session) -> None:
    """sacct 22.05: ``-j 843`` lists 843+0 (raw 843) and 843+1 (raw 844); ``-j 843+1`` one."""
    _job(session, 843, het=(843, 0))
    _job(session, 844, het=(843, 1))
    _job(session, 845, array=(842, 0))

    def ids(*selectors: JobSelector) -> list[str]:
        return [row.job_id_text for row in iter_jobs(session, ReportQuery(jobs=selectors))]

    assert ids() == ["843+0", "843+1", "842_0"]
    assert ids(JobSelector(843)) == ["843+0", "843+1"]
    assert ids(JobSelector(843, het_job_offset=1)) == ["843+1"]
    assert ids(JobSelector(844)) == ["843+1"]  # its raw id, as sacct -j 844 finds it
    assert ids(JobSelector(842, het_job_offset=0)) == []
    assert ids(JobSelector(843, 1)) == []  # an array task 843_1: no such job
    assert str(JobSelector(843, het_job_offset=1)) == "843+1"
    groups = {group.key: group.jobs for group in totals(session, ReportQuery(), "job")}
    assert groups == {"843": 2, "842": 1}
    _job(session, 844, user="bob", het=(843, 1), co2e_g=None)
    assert foreign_jobs(session, [JobSelector(843)], "alice") == ["843+1"]


class _CountingCursor:
    """A DB-API cursor that counts the rows the driver has handed over."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.fetched = 0

    def _count(self, rows: Any) -> Any:
        self.fetched += len(rows)
        return rows

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        self.fetched += row is not None
        return row

    def fetchmany(self, *size: int) -> Any:
        return self._count(self._cursor.fetchmany(*size))

    def fetchall(self) -> Any:
        return self._count(self._cursor.fetchall())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def test_many_rows_stream_in_batches(session: Session) -> None:
    for job_id in range(1, 251):
        _job(session, job_id, co2e_g=1.0 if job_id % 2 else None)
    cursors: list[_CountingCursor] = []

    def count_fetches(*args: Any) -> None:
        context = args[4]  # conn, cursor, statement, parameters, context, executemany
        context.cursor = _CountingCursor(context.cursor)
        cursors.append(context.cursor)

    connection = session.connection()
    event.listen(connection, "after_cursor_execute", count_fetches)
    try:
        rows = iter_jobs(session, ReportQuery(), batch_size=32)
        first = next(rows)
        (cursor,) = cursors
        fetched_for_first = cursor.fetched
        with_figures = (first.figures is not None) + sum(1 for r in rows if r.figures is not None)
    finally:
        event.remove(connection, "after_cursor_execute", count_fetches)

    assert with_figures == 125
    assert cursor.fetched == 250
    # The first row comes out when at most one batch has left the driver, not all 250 ...
    assert 1 <= fetched_for_first <= 32
    if connection.dialect.name == "postgresql":
        # ... and PostgreSQL sends them through a server-side (named) cursor: a client-side
        # psycopg cursor would receive every row at execute, before any fetch.
        assert getattr(cursor, "name", None)


def test_totals_sum_per_group_with_waste_and_pending(session: Session) -> None:
    _job(session, 1, partition="gpu", co2e_g=10.0)
    _job(session, 2, partition="gpu", state="FAILED", co2e_g=5.0)
    _job(session, 3, partition="gpu", state="NODE_FAIL", co2e_g=None)
    _job(session, 4, partition="cpu", state="CANCELLED by 1000", co2e_g=2.5)

    groups = {group.key: group for group in totals(session, ReportQuery(), "partition")}
    (overall,) = totals(session, ReportQuery())

    assert groups["gpu"].jobs == 3
    assert groups["gpu"].pending_jobs == 1
    assert groups["gpu"].co2e_g == pytest.approx(15.0)
    assert groups["gpu"].waste_co2e_g == pytest.approx(5.0)
    assert groups["gpu"].facility_energy_j == pytest.approx(2 * 7.2e6)
    assert groups["cpu"].waste_co2e_g == pytest.approx(2.5)
    assert overall.key is None
    assert overall.jobs == 4
    assert overall.co2e_g == pytest.approx(17.5)
    assert overall.waste_co2e_g == pytest.approx(7.5)


def test_totals_of_nothing_is_one_zero_group(session: Session) -> None:
    (overall,) = totals(session, ReportQuery(users=("nobody",)))

    assert (overall.jobs, overall.co2e_g, overall.facility_energy_j) == (0, 0.0, 0.0)


def test_totals_by_job_group_an_arrays_tasks(session: Session) -> None:
    _job(session, 11, array=(10, 1), co2e_g=1.0)
    _job(session, 12, array=(10, 2), co2e_g=2.0)
    _job(session, 13, co2e_g=4.0)

    groups = {group.key: group.co2e_g for group in totals(session, ReportQuery(), "job")}

    assert groups == {"10": pytest.approx(3.0), "13": pytest.approx(4.0)}


def test_foreign_jobs_names_the_jobs_another_user_owns(session: Session) -> None:
    _job(session, 1, user="alice")
    _job(session, 2, user="bob")
    _job(session, 11, user="bob", array=(10, 1))

    assert foreign_jobs(session, [JobSelector(1)], "alice") == []
    assert foreign_jobs(session, [JobSelector(1), JobSelector(2)], "alice") == ["2"]
    assert foreign_jobs(session, [JobSelector(10)], "alice") == ["10_1"]


def test_timeline_and_ci_series(session: Session) -> None:
    row_id = _job(session, 1, end=T0 + timedelta(hours=1))
    cluster = get_or_create_cluster(session, "tc")
    node = get_or_create_node(session, cluster.id, "n1")
    gpu = get_or_create_device(session, node.id, "GPU-a", kind=DeviceKind.GPU, model="A100")
    dram = get_or_create_device(session, node.id, "dram0", kind=DeviceKind.DRAM)
    add_intervals(
        session,
        [
            NewInterval(row_id, node.id, device, T0 + timedelta(minutes=m),
                        T0 + timedelta(minutes=m + 30), energy_j, EnergyMethod.COUNTER,
                        Sharing.EXCLUSIVE)
            for m in (0, 30)
            for device, energy_j in ((gpu.id, 100.0), (dram.id, 10.0))
        ],
    )  # fmt: skip
    for minutes, value, issued in ((-60, 1.0, 0), (-10, 50.0, 0), (-10, 60.0, 5), (20, 70.0, 0)):
        time = T0 + timedelta(minutes=minutes)
        session.add(
            CarbonIntensityPoint(
                region="SE",
                source="trace",
                time=time,
                ci_g_per_kwh=value,
                kind=CiKind.ACTUAL,
                signal=CiSignal.AVERAGE,
                issued_at=time + timedelta(minutes=issued),
            )
        )
    session.flush()
    (row,) = iter_jobs(session, ReportQuery(jobs=(JobSelector(1),)))

    timeline = job_timeline(session, row)
    series = ci_series(session, "SE", "trace", T0, T0 + timedelta(hours=1))
    intervals = job_intervals(session, row_id)

    assert [(p.gpu_energy_j, p.dram_energy_j) for p in timeline] == [(100.0, 10.0)] * 2
    assert [p.ci_g_per_kwh for p in timeline] == [60.0, 70.0]  # the latest issue wins
    assert [(r.time - T0, r.ci_g_per_kwh, r.step_s) for r in series] == [
        (timedelta(minutes=-10), 60.0, 1800),  # until the next point
        (timedelta(minutes=20), 70.0, 1800),  # the last lasts as the one before
    ]
    assert len(intervals) == 4
    assert {(r.kind, r.device_model) for r in intervals} == {("gpu", "A100"), ("dram", None)}


def _figures(**changes: Any) -> JobFigures:
    stored = JobFigures(
        gpu_energy_j=3.6e6,
        cpu_energy_j=0.0,
        dram_energy_j=0.0,
        co2e_g=10.0,
        ci_mean_g_per_kwh=5.0,
        ci_region="SE",
        ci_source="trace",
        pue=2.0,
        quality=EnergyMethod.COUNTER,
        sharing=Sharing.EXCLUSIVE,
        computed_at=T0,
        ci_actual_share=1.0,
        ci_forecast_share=0.0,
        ci_annual_share=0.0,
    )
    return dataclasses.replace(stored, **changes)


def test_figures_read_back_are_the_figures_saved(session: Session) -> None:
    saved = _figures(ci_source="a,b,codecarbon-annual", ci_annual=True, ci_synthetic=True)
    save_result(session, _job(session, 1, co2e_g=None), saved)

    (row,) = iter_jobs(session, ReportQuery())

    assert row.figures == saved
    assert row.figures is not None
    assert type(row.figures.quality) is EnergyMethod


def test_estimated_reads_the_stored_flag_not_the_source_name(session: Session) -> None:
    save_result(session, _job(session, 1, co2e_g=None), _figures(ci_source="codecarbon-annual"))
    save_result(session, _job(session, 2, co2e_g=None), _figures(ci_annual=True))

    rows = {row.slurm_job_id: row.figures for row in iter_jobs(session, ReportQuery())}
    (overall,) = totals(session, ReportQuery())

    assert rows[1] is not None
    assert not rows[1].estimated
    assert rows[2] is not None
    assert rows[2].estimated
    assert overall.estimated_jobs == 1


def test_rows_carry_the_budgets_and_the_action_taken(session: Session) -> None:
    acted = _job(session, 1)
    _job(session, 2)
    cluster = get_or_create_cluster(session, "tc")
    upsert_job(session, cluster.id, 1, budget_co2e_g=5000.0, budget_energy_j=7.2e6)
    action = BudgetActionRecord(
        job_id=acted,
        action=BudgetAction.CANCEL,
        at=T0,
        kind=BudgetKind.CO2E,
        budget=5000.0,
        forecast=7000.0,
        forecast_low=6000.0,
        forecast_high=8000.0,
        progress=0.25,
        reason="over",
        outcome=BudgetOutcome.DONE,
    )
    record_budget_action(session, action)

    first, second = iter_jobs(session, ReportQuery())

    assert (first.budget_co2e_g, first.budget_energy_j, first.budget_action) == (
        5000.0,
        7.2e6,
        action,
    )
    assert (second.budget_co2e_g, second.budget_energy_j, second.budget_action) == (
        None,
        None,
        None,
    )


def test_rows_carry_the_time_limit_which_a_later_write_without_one_keeps(session: Session) -> None:
    _job(session, 1)
    _job(session, 2)
    cluster = get_or_create_cluster(session, "tc")
    upsert_job(session, cluster.id, 1, time_limit_s=300.0)
    upsert_job(session, cluster.id, 1, state="RUNNING")  # the agent knows no time limit

    first, second = iter_jobs(session, ReportQuery())

    assert (first.time_limit_s, second.time_limit_s) == (300.0, None)
