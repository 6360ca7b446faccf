"""The fault matrix (issue 14): each fault on the 2-node rig of tests/integration/faults.py.

Each test runs a GPU job on both nodes, injects its fault while the job runs, then
prints its row and holds it to the goal: nothing lost or double-counted, no cap left
changed, no node drained, no job failed. Run with ``-s`` to see the rows; they are
appended to ``.local/faults.tsv`` too.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest

from slurm_carbon.store.results import StoredInterval
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.conftest import POSTGRES_SCRIPT
from tests.integration.faults import (
    EDGE_SLACK_S,
    JOB_DEADLINE_S,
    FaultRig,
    account_gpu,
    assert_goal,
    fault_rig_fixture,
)

# The module's rig: pytest finds a fixture by the name it is bound to here.
fault_rig = fault_rig_fixture

# The service down for four of the agents' 5 s intervals: each agent must spool and
# then ship a backlog, not just retry one batch.
SERVICE_DOWN_S = 20
# PostgreSQL down for two agent intervals: batches arrive while it is gone and the
# service's pooled connections are dead when it is back.
POSTGRES_DOWN_S = 10
# An agent gone for two of its 5 s intervals while its job runs.
AGENT_DOWN_S = 10
# A "reboot" of two agent intervals, over well before the job's ~30 s of work ends.
REBOOT_S = 10
# How long after its job's end an agent killed during the job comes back: an interval,
# its epilog's hand-off waiting in the node's spool meanwhile.
AFTER_END_S = 5
# deploy/local/postgres stop/start each wait up to 60 s for pg_ctl; a little beyond that.
POSTGRES_COMMAND_TIMEOUT_S = 90

JOB = (1000.0, 1030.0)  # sacct's Start, End
WORK = {"energy_j": 2000.0, "duration_s": 20.0}  # 100 W for 20 s, idle 10 W the other 10 s


def interval(start: float, end: float, energy_j: float) -> StoredInterval:
    return StoredInterval(
        node="scn1",
        device_uuid="GPU-sim-00000000-0000",
        kind=DeviceKind.GPU,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
        energy_j=energy_j,
        method=EnergyMethod.COUNTER,
        sharing=Sharing.EXCLUSIVE,
    )


def test_a_job_covered_end_to_end_expects_its_work_and_idle_energy() -> None:
    spans = [interval(1000.5, 1015, 1145), interval(1015, 1030.5, 955)]
    account = account_gpu(WORK, 10.0, spans, JOB)
    assert (account.expected_j, account.stored_j) == (2100.0, 2100.0)
    assert (account.window_s, account.missing_s) == (30.0, 0.0)


def test_a_gap_and_an_edge_short_of_the_job_count_as_missing_and_overlap_is_not_coverage() -> None:
    spans = [interval(1005, 1010, 500), interval(1008, 1015, 600), interval(1020, 1030, 900)]
    account = account_gpu(WORK, 10.0, spans, JOB)
    # From 1005 to 1030, plus the 5 s before 1005 less the slack.
    assert account.window_s == 25.0 + 5.0 - EDGE_SLACK_S
    assert account.missing_s == pytest.approx(5.0 + 5.0 - EDGE_SLACK_S)  # 1015-1020 and the edge
    assert account.stored_j == 2000.0


def test_a_gpu_without_intervals_is_wholly_missing() -> None:
    account = account_gpu(WORK, 10.0, [], JOB)
    assert (account.stored_j, account.missing_s, account.window_s) == (0.0, 30.0, 30.0)
    assert account.expected_j == 2100.0


@pytest.mark.integration
def test_the_service_down_for_several_intervals_loses_nothing(fault_rig: FaultRig) -> None:
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    fault_rig.service.stop()
    time.sleep(SERVICE_DOWN_S)
    fault_rig.service.start()
    assert_goal(fault_rig.account("service down", job_id))


def postgres(command: str) -> None:
    subprocess.run(
        [str(POSTGRES_SCRIPT), command],
        check=True,
        capture_output=True,
        timeout=POSTGRES_COMMAND_TIMEOUT_S,
    )


@pytest.mark.integration
def test_postgres_restarted_during_ingest_loses_nothing(fault_rig: FaultRig) -> None:
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    try:
        postgres("stop")
        time.sleep(POSTGRES_DOWN_S)
    finally:
        postgres("start")
    assert_goal(fault_rig.account("postgres restarted", job_id))


@pytest.mark.integration
def test_an_agent_sigkilled_mid_job_and_restarted_loses_nothing(fault_rig: FaultRig) -> None:
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    fault_rig.stop_agent("scn1", signal.SIGKILL)
    time.sleep(AGENT_DOWN_S)
    fault_rig.start_agent("scn1")
    assert_goal(fault_rig.account("agent SIGKILLed", job_id))


@pytest.mark.integration
def test_an_agent_rebooted_with_unshipped_intervals_replays_its_spool(fault_rig: FaultRig) -> None:
    """The process gone (SIGKILL) while it holds intervals the service has not had; a new
    process on the same spool and state directories while the job still runs."""
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    fault_rig.service.stop()
    try:
        fault_rig.wait_for(lambda: fault_rig.outbox("scn2") > 0, "an unshipped interval", 30)
        fault_rig.stop_agent("scn2", signal.SIGKILL)
    finally:
        fault_rig.service.start()
    time.sleep(REBOOT_S)
    fault_rig.start_agent("scn2")
    assert_goal(fault_rig.account("agent rebooted", job_id))


@pytest.mark.integration
def test_an_agent_down_across_its_jobs_end_marks_the_tail_missing(fault_rig: FaultRig) -> None:
    """From the kill to the job's end no agent read scn2's GPUs: the counter's energy over
    the outage cannot be split between the job and the idle GPU after it, so it is the
    job's missing coverage, not a lower figure (slurm_carbon/agent/sampler.py)."""
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    fault_rig.stop_agent("scn2", signal.SIGKILL)
    fault_rig.cluster.wait_for_job(job_id, timeout_s=JOB_DEADLINE_S)
    time.sleep(AFTER_END_S)
    fault_rig.start_agent("scn2")
    row = fault_rig.account("agent down across job end", job_id)
    assert row.missing_coverage > 0, row.line()
    coverage = fault_rig.result_node_coverage(job_id)  # the job's quality says so too
    assert coverage is not None
    assert coverage < 1, (coverage, row.line())
    assert_goal(row, missing_allowed=True)
