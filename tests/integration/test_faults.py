"""The fault matrix (issue 14): each fault on the 2-node rig of tests/integration/faults.py.

Each test runs a GPU job on both nodes, injects its fault while the job runs, then
prints its row and holds it to the goal: nothing lost or double-counted, no cap left
changed, no node drained, no job failed. Run with ``-s`` to see the rows; they are
appended to ``.local/faults.tsv`` too.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from slurm_carbon.store.results import StoredInterval
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.integration.faults import (
    EDGE_SLACK_S,
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
