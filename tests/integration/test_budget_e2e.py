"""Budgets acted on end to end: sbatch --comment, the forecast, the writer's policy, sacct.

Simulated GPU jobs report their progress; the writer (its own process, with a site
file whose ``[budgets]`` policy each test sets) forecasts them at every sweep and
acts on a job whose forecast total exceeds its budget once the forecast is
confident (10 % reported). What users see is read back through Slurm: the live
value from slurmctld while the job runs, sacct's AdminComment after it ended.
"""

from __future__ import annotations

import time

import pytest

from slurm_carbon.slurm import CommandLineSlurm, SubprocessRunner
from slurm_carbon.store import BudgetActionRecord, budget_action, make_engine, session_factory
from slurm_carbon.store.results import find_job
from slurm_carbon.vocabulary import BudgetAction, BudgetOutcome
from tests.integration.conftest import Rig

pytestmark = pytest.mark.integration

#: Work of each job: 40 units at the synthetic profile's 1 unit/s, about 3 Wh on its
#: GPU, so an energy budget of 1 Wh is far below its forecast and 1 MWh far above.
UNITS = 40
OVER, WITHIN = "energy_budget=1Wh", "energy_budget=1MWh"
#: Seconds for a job to run, be forecast and acted on, and its comment to reach sacct.
DEADLINE_S = 120
SITE = """cluster = "sclocal"
[regions]
default = "SE"
[pue]
default = 1.2
[budgets]
action = "{action}"
min_progress = 0.1
"""


def start_writer(rig: Rig, action: str) -> None:
    config = rig.work / "site.toml"
    config.write_text(SITE.format(action=action))
    rig.start(
        "writer",
        *("writer", "--url", rig.service.db_url, "--spool", str(rig.spool)),
        *("--config", str(config), "--poll-s", "0.5", "--sweep-s", "2"),
        *("--settle-delay-s", "8", "--log-level", "DEBUG"),
    )


def action_of(rig: Rig, job_id: str) -> BudgetActionRecord | None:
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            return None if job is None else budget_action(session, job.id)
    finally:
        engine.dispose()


def admin_comment(rig: Rig, job_id: str) -> str:
    """The job's AdminComment as sacct shows it ("" before sacct lists the job)."""
    rows = rig.cluster.sacct(job_id, ["JobID", "AdminComment"])
    return rows[0]["AdminComment"] if rows else ""


def state(rig: Rig, job_id: str) -> str:
    (row,) = rig.cluster.sacct(job_id, ["JobID", "State"])
    return row["State"].split()[0]


def test_notify_puts_the_note_in_sacct_and_leaves_a_job_within_budget_alone(rig: Rig) -> None:
    start_writer(rig, "notify")
    over = rig.submit_work("--gres=gpu:1", f"--comment=resnet {OVER}", units=UNITS)
    within = rig.submit_work("--gres=gpu:1", f"--comment={WITHIN}", units=UNITS)
    slurm = CommandLineSlurm(SubprocessRunner(env=rig.cluster.env))

    # While it runs, slurmctld holds the live value (scontrol/squeue show it; sacct
    # gets it when the job ends).
    rig.wait_for(
        lambda: "budget=over" in slurm.running_admin_comment(over),
        "the budget note in the running job's AdminComment",
        timeout_s=DEADLINE_S,
    )
    assert state(rig, over) == "RUNNING"  # notified, not stopped
    assert slurm.running_admin_comment(over).endswith(";budget=over;live=1")
    record = action_of(rig, over)
    assert record is not None
    assert (record.action, record.outcome) == (BudgetAction.NOTIFY, BudgetOutcome.DONE)
    assert record.forecast_low > record.budget  # even the optimistic total is over

    rig.cluster.wait_for_job(within, timeout_s=DEADLINE_S)
    rig.cluster.wait_for_job(over, timeout_s=DEADLINE_S)
    assert state(rig, over) == "COMPLETED"
    # The final value (sacctmgr, once sacct's record is final) keeps the note.
    rig.wait_for(
        lambda: admin_comment(rig, over).endswith(";budget=over"),
        "the note in the ended job's AdminComment in sacct",
        timeout_s=DEADLINE_S,
    )
    rig.wait_for(
        lambda: admin_comment(rig, within).startswith("sc1:"),
        "the final value of the job within its budget",
        timeout_s=DEADLINE_S,
    )
    assert action_of(rig, within) is None
    assert "budget=" not in admin_comment(rig, within)


def test_cancel_ends_a_job_over_its_budget_with_the_reason_stored(rig: Rig) -> None:
    start_writer(rig, "cancel")
    over = rig.submit_work("--gres=gpu:1", f"--comment={OVER}", units=UNITS)

    rows = rig.cluster.wait_for_job(over, fields=("JobID", "State"), timeout_s=DEADLINE_S)

    assert rows[0]["State"].split()[0] == "CANCELLED"
    deadline = time.monotonic() + 10
    record = action_of(rig, over)
    while record is None or record.outcome is BudgetOutcome.PENDING:
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
        record = action_of(rig, over)
    assert (record.action, record.outcome) == (BudgetAction.CANCEL, BudgetOutcome.DONE)
    assert "exceeds the energy budget" in record.reason
    assert record.progress is not None
    assert record.progress >= 0.1
