"""Acting on budgets: the decision table, the record made once before acting, the actions."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.config import BudgetsConfig
from slurm_carbon.service.budgets import BUDGET_NOTE, BudgetReviewer, run_notify_command
from slurm_carbon.service.job_forecast import JobForecast
from slurm_carbon.service.results import store_job
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.budgets import BudgetActionRecord, budget_action
from slurm_carbon.vocabulary import TIME_LIMIT_BOUND, BudgetAction, BudgetKind, BudgetOutcome
from tests.builders import JOB_START, slurm_job

NOW = JOB_START + timedelta(minutes=30)


def running(raw: int = 7, **fields: Any) -> SlurmJob:
    """A running job with a 5 kg carbon budget and a 2 kWh (7.2 MJ) energy budget."""
    return slurm_job(
        raw,
        state="RUNNING",
        end_time=None,
        elapsed_s=1800,
        comment="carbon_budget=5kg energy_budget=2kWh",
        **fields,
    )


def forecast(
    co2e: tuple[float, float, float] = (6000.0, 5500.0, 7000.0),
    energy: tuple[float, float, float] = (5e6, 4e6, 6e6),
    progress: float | None = 0.2,
    method: str = "test",
) -> JobForecast:
    """A forecast whose totals (point, low, high) are ``co2e`` grams and ``energy`` joules."""
    so_far_g, so_far_j = 1000.0, 1e6
    return JobForecast(
        at=NOW,
        progress=progress,
        method=method,
        energy_so_far_j=so_far_j,
        co2e_so_far_g=so_far_g,
        remaining_energy_j=energy[0] - so_far_j,
        remaining_energy_low_j=energy[1] - so_far_j,
        remaining_energy_high_j=energy[2] - so_far_j,
        remaining_co2e_g=co2e[0] - so_far_g,
        remaining_co2e_low_g=co2e[1] - so_far_g,
        remaining_co2e_high_g=co2e[2] - so_far_g,
        end_time=None,
        ci_source="test",
    )


class Rig:
    """A stored running job, a FakeSlurm holding it, a recording notify runner."""

    def __init__(self, session: Session, factory: SessionFactory, job: SlurmJob) -> None:
        self.session = session
        self.factory = factory
        self.job = job
        self.job_row = store_job(session, job)
        session.commit()  # the fixture's SAVEPOINT: the reviewer's sessions see the job
        self.slurm = FakeSlurm(job)
        self.commands: list[list[str]] = []

    def run_command(self, argv: Sequence[str]) -> str | None:
        self.commands.append(list(argv))
        return None

    def review(
        self, budgets: BudgetsConfig, forecast: JobForecast, *, now: Any = NOW
    ) -> str | None:
        reviewer = BudgetReviewer(self.factory, self.slurm, budgets, self.run_command)
        return reviewer.review(self.job, forecast, now)

    def stored(self) -> BudgetActionRecord | None:
        return budget_action(self.session, self.job_row)


@pytest.fixture
def rig(session: Session, factory: SessionFactory) -> Rig:
    return Rig(session, factory, running())


CANCEL = BudgetsConfig(action="cancel")
NOTIFY = BudgetsConfig(action="notify", notify_command=["/bin/mail", "{user}", "{budget}"])


def test_cancel_records_first_then_cancels_once_with_the_reason(rig: Rig) -> None:
    assert rig.review(CANCEL, forecast()) is None

    stored = rig.stored()
    assert stored is not None
    assert (stored.action, stored.kind, stored.outcome) == (
        BudgetAction.CANCEL,
        BudgetKind.CO2E,
        BudgetOutcome.DONE,
    )
    assert (stored.budget, stored.forecast, stored.forecast_low) == (5000.0, 6000.0, 5500.0)
    assert (stored.at, stored.progress) == (NOW, 0.2)
    assert stored.reason == (
        "forecast total 6,000 g (5,500 g - 7,000 g, 90 %):"
        " even its 90 % interval's low end exceeds the co2e budget 5,000 g"
    )
    assert rig.slurm.cancelled == [("7", stored.reason)]
    assert rig.slurm.records[7].state == "CANCELLED"

    rig.review(CANCEL, forecast(co2e=(9e9, 9e9, 9e9)), now=NOW + timedelta(hours=1))

    assert len(rig.slurm.cancelled) == 1  # never twice
    assert rig.stored() == stored


def test_not_confident_yet_nothing_is_done(rig: Rig) -> None:
    early = NOW - timedelta(minutes=21)  # 9 minutes in: below min_runtime_min (10)

    rig.review(CANCEL, forecast(progress=0.09), now=early)  # below min_progress (0.1)
    rig.review(CANCEL, forecast(progress=None), now=early)

    assert (rig.stored(), rig.slurm.cancelled) == (None, [])


def test_run_time_alone_makes_the_forecast_confident(rig: Rig) -> None:
    rig.review(CANCEL, forecast(progress=None), now=JOB_START + timedelta(minutes=10))

    assert len(rig.slurm.cancelled) == 1


def test_a_bound_by_the_time_limit_is_never_acted_on(rig: Rig) -> None:
    bound = forecast((9e9, 9e9, 9e9), (9e9, 9e9, 9e9), progress=None, method=TIME_LIMIT_BOUND)
    late = JOB_START + timedelta(hours=1)  # far past min_runtime_min

    for policy in (CANCEL, NOTIFY):
        assert rig.review(policy, bound, now=late) is None

    assert (rig.stored(), rig.slurm.cancelled, rig.commands) == (None, [], [])


def test_a_job_within_budget_is_left_alone(rig: Rig) -> None:
    rig.review(CANCEL, forecast(co2e=(4900.0, 4000.0, 6000.0)))

    assert (rig.stored(), rig.slurm.cancelled) == (None, [])


def test_over_by_low_waits_for_the_lower_bound_and_point_does_not(rig: Rig) -> None:
    point_over = forecast(co2e=(6000.0, 4900.0, 7000.0))

    rig.review(CANCEL, point_over)
    assert rig.stored() is None

    rig.review(BudgetsConfig(action="cancel", over_by="point"), point_over)
    stored = rig.stored()
    assert stored is not None
    assert "its point forecast exceeds the co2e budget 5,000 g" in stored.reason


def test_an_energy_budget_is_acted_on_too(rig: Rig) -> None:
    note = rig.review(NOTIFY, forecast(co2e=(100.0, 90.0, 110.0), energy=(9e6, 8e6, 1e7)))

    stored = rig.stored()
    assert note == BUDGET_NOTE
    assert stored is not None
    assert (stored.kind, stored.budget, stored.forecast_low) == (BudgetKind.ENERGY, 7.2e6, 8e6)
    assert rig.commands == [["/bin/mail", "alice", "2,000 Wh"]]


def test_notify_runs_once_and_its_note_stays(rig: Rig) -> None:
    assert rig.review(NOTIFY, forecast()) == BUDGET_NOTE
    assert rig.review(NOTIFY, forecast(), now=NOW + timedelta(minutes=5)) == BUDGET_NOTE

    assert rig.commands == [["/bin/mail", "alice", "5,000 g"]]
    assert rig.slurm.cancelled == []


def test_none_records_and_does_nothing(rig: Rig) -> None:
    assert rig.review(BudgetsConfig(action="none"), forecast(co2e=(9e9, 9e9, 9e9))) is None

    assert (rig.stored(), rig.slurm.cancelled, rig.commands) == (None, [], [])


def test_the_partitions_policy_is_the_one_applied(rig: Rig) -> None:
    budgets = BudgetsConfig.model_validate(
        {"action": "cancel", "partitions": {"debug": {"action": "none"}}}
    )

    rig.review(budgets, forecast(co2e=(9e9, 9e9, 9e9)))

    assert (rig.stored(), rig.slurm.cancelled) == (None, [])


def test_a_failed_cancel_is_stored_not_raised_and_not_repeated(rig: Rig) -> None:
    rig.slurm.refuse = "scancel: Access/permission denied"

    rig.review(CANCEL, forecast())
    rig.review(CANCEL, forecast())

    stored = rig.stored()
    assert stored is not None
    assert (stored.outcome, stored.outcome_message) == (
        BudgetOutcome.FAILED,
        "scancel: Access/permission denied",
    )
    assert len(rig.slurm.cancelled) == 1


def test_a_job_not_stored_is_not_acted_on(rig: Rig) -> None:
    rig.job = dataclasses.replace(rig.job, job_id="8", job_id_raw=8)

    assert rig.review(CANCEL, forecast()) is None
    assert rig.slurm.cancelled == []


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "notify"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o700)
    return str(path)


def test_the_command_runs_without_a_shell_or_the_services_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CARBON_DB_URL", "postgresql://u:secret@db/x")
    out = tmp_path / "out"
    program = script(tmp_path, f'printf "%s\\n" "$@" > {out}; env >> {out}; cat >> {out}')

    assert run_notify_command([program, "$(touch pwned)", "a b;c"]) is None

    lines = out.read_text().splitlines()
    assert lines[:2] == ["$(touch pwned)", "a b;c"]
    assert not (tmp_path / "pwned").exists()
    assert "secret" not in out.read_text()  # the service's environment is not passed on
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in lines


def test_a_failing_or_hanging_command_is_one_line_and_bounded(tmp_path: Path) -> None:
    failing = script(tmp_path, 'echo "no such\n user" >&2; exit 3')
    assert run_notify_command([failing]) == "exit code 3: no such user"
    assert run_notify_command(["/nonexistent/mail"]) is not None

    started = time.monotonic()
    assert run_notify_command(["/bin/sleep", "30"], timeout_s=0.3) == "killed after 0.3 s"
    assert time.monotonic() - started < 5
