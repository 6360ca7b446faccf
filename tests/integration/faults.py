"""The fault matrix's rig: a 2-node cluster, a service on PostgreSQL, an agent per node, a writer.

One rig per module (``fault_rig``): a test submits a GPU job on both nodes
(:meth:`FaultRig.submit`), injects its fault while the job runs, and ends with
:meth:`FaultRig.account`, which compares the simulators' energy ground truth with
what the store holds for the job and what the writer settled, prints one line

    fault <name>: expected <J> J, stored <J> J, lost <J> J, double-counted <J> J,
    missing coverage <share>, caps left changed <n>, drained nodes <n>, failed jobs <n>

appends it as a row to ``.local/faults.tsv`` (the README's table is made from it),
and :func:`assert_goal` holds it to the goal: nothing lost or counted twice unless
marked as missing coverage, no cap left changed, no node drained, no job failed.

Ground truth per GPU: the simulator's energy of the job's work plus its idle draw
for the rest of the job's window (as in test_multinode). The window is the span the
stored intervals cover, widened to sacct's Start..End where the store starts or ends
more than ``EDGE_SLACK_S`` inside it; time in the window no interval covers is
missing coverage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from slurm_carbon.cli.supervisor import stop_child
from slurm_carbon.sensors.sim import state_path
from slurm_carbon.store import make_engine, session_factory
from slurm_carbon.store.results import StoredInterval, find_job, get_result
from tests.integration.conftest import MULTINODE_NODES, SLURM_CARBON
from tests.integration.test_multinode import (
    DELIVERY_DEADLINE_S,
    Nodes,
    nodes_running,
    result_gpu_j,
    stored,
)

if TYPE_CHECKING:
    import signal

    from tests.conftest import PostgresDatabases
    from tests.integration.conftest import SlurmCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where each run's rows are appended (``.local`` is this clone's git-ignored state).
RESULTS_TSV = REPO_ROOT / ".local" / "faults.tsv"
RESULTS_HEADER = (
    "fault\texpected_j\tstored_j\tlost_j\tdouble_counted_j\tmissing_coverage"
    "\tcaps_changed\tdrained_nodes\tfailed_jobs\n"
)
# Simulated work per job: ~1 s a unit on the synthetic profile, so ~30 s of work, enough
# for six 5 s agent intervals and a fault in the middle, short enough for the ~8 min module.
JOB_UNITS = 30
# How long a job may take from submission to sacct's end: its ~30 s of work, slowed by the
# faults' restarts on a loaded 2-core machine, three times over.
JOB_DEADLINE_S = 180
GPUS_PER_JOB_NODE = 2  # --gres=gpu:2 on each of the 2 nodes
# How far sacct's Start/End (whole seconds; the prolog runs after Start) may lie outside
# the stored intervals' span before the difference counts as missing coverage.
EDGE_SLACK_S = 2.0
# Lost or double-counted energy below this share of the truth is measurement noise (the
# same 1 % test_multinode allows: interval edges at the agents' 0.2 s samples).
ENERGY_TOLERANCE_REL = 0.01
# How long the writer may take to settle a delivered job (or recompute a result settled
# before late intervals): its 8 s settle delay and 2 s sweep, with margin for a loaded
# 2-core machine.
RESULT_DEADLINE_S = 60
# sinfo states of a node that is healthy (a trailing '*', '~', '#' or '$' is stripped).
HEALTHY_NODE_STATES = frozenset({"idle", "mixed", "allocated", "completing"})


@dataclass(frozen=True)
class FaultRow:
    """One fault's outcome. Units: joules; ``missing_coverage`` a share of GPU-time, 0-1."""

    fault: str
    expected_j: float
    stored_j: float
    lost_j: float
    double_counted_j: float
    missing_coverage: float
    caps_changed: int
    drained_nodes: int
    failed_jobs: int

    def line(self) -> str:
        return (
            f"fault {self.fault}: expected {self.expected_j:.0f} J, stored {self.stored_j:.0f} J,"
            f" lost {self.lost_j:.0f} J, double-counted {self.double_counted_j:.0f} J,"
            f" missing coverage {self.missing_coverage:.3f}, caps left changed"
            f" {self.caps_changed}, drained nodes {self.drained_nodes},"
            f" failed jobs {self.failed_jobs}"
        )

    def tsv(self) -> str:
        return (
            "\t".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in astuple(self)) + "\n"
        )


def assert_goal(row: FaultRow, *, missing_allowed: bool = False) -> None:
    """The fault matrix's goal; ``missing_allowed`` where a fault may only cost coverage."""
    tolerance_j = ENERGY_TOLERANCE_REL * row.expected_j
    if not missing_allowed:
        assert row.missing_coverage == 0, row.line()
    if row.missing_coverage == 0:
        assert row.lost_j <= tolerance_j, row.line()
    assert row.double_counted_j <= tolerance_j, row.line()
    assert (row.caps_changed, row.drained_nodes, row.failed_jobs) == (0, 0, 0), row.line()


@dataclass
class GpuAccount:
    """One GPU's energy for a job. Units: joules, seconds."""

    expected_j: float
    stored_j: float
    window_s: float
    missing_s: float


def account_gpu(
    truth: dict[str, float], idle_w: float, spans: list[StoredInterval], job: tuple[float, float]
) -> GpuAccount:
    """``truth``: the simulator's ``energy_j`` and ``duration_s`` of the work on the GPU;
    ``spans``: its stored intervals; ``job``: sacct's Start and End (epoch seconds).
    """
    job_start, job_end = job
    if not spans:
        window_s = job_end - job_start
        return GpuAccount(
            truth["energy_j"] + idle_w * (window_s - truth["duration_s"]), 0.0, window_s, window_s
        )
    spans = sorted(spans, key=lambda r: r.start)
    first, last = spans[0].start.timestamp(), max(r.end.timestamp() for r in spans)
    covered_s, reach = 0.0, first
    for r in spans:
        start, end = max(r.start.timestamp(), reach), r.end.timestamp()
        covered_s += max(0.0, end - start)
        reach = max(reach, end)
    edges_s = max(0.0, first - job_start - EDGE_SLACK_S) + max(0.0, job_end - last - EDGE_SLACK_S)
    window_s = last - first + edges_s
    return GpuAccount(
        expected_j=truth["energy_j"] + idle_w * (window_s - truth["duration_s"]),
        stored_j=sum(r.energy_j for r in spans),
        window_s=window_s,
        missing_s=window_s - covered_s,
    )


@dataclass
class FaultRig(Nodes):
    """:class:`Nodes` with a writer, jobs on both nodes, and the fault accounting."""

    def submit(self, units: float = JOB_UNITS) -> str:
        """A job of ``units`` of simulated work on 2 GPUs of each node; its truth per node
        in ``run-<id>-<node>.json``."""
        return self.cluster.sbatch(
            *("-N", str(MULTINODE_NODES), f"--gres=gpu:{GPUS_PER_JOB_NODE}"),
            "--wrap=srun sh -c 'exec "
            + f"{SLURM_CARBON} sim work --dir {self.work}/sim-$SLURMD_NODENAME"
            + f" --gpus $SLURM_STEP_GPUS --units {units} --tick 0.05"
            + f" --result {self.work}/run-$SLURM_JOB_ID-$SLURMD_NODENAME.json'",
        )

    def wait_running(self, job_id: str, timeout_s: float = 30) -> None:
        """Until every node's simulator has started the job's work (its GPUs busy)."""

        def busy() -> bool:
            rows = self.cluster.sacct(job_id, ("JobID", "State"))  # none for a moment
            return [r["State"] for r in rows] == ["RUNNING"] and all(
                sum(state["busy_pid"] is not None for state in self.gpu_states(node))
                == GPUS_PER_JOB_NODE
                for node in self.cluster.nodes
            )

        self.wait_for(busy, f"job {job_id} running on every node", timeout_s)

    def stop_agent(self, node: str, sig: signal.Signals) -> None:
        """Ends the node's agent with ``sig`` and reaps it."""
        stop_child(self.agents.pop(node), sig)

    def wait_delivered(self, job_id: str) -> None:
        """Until no hand-off or unshipped interval is left and both nodes' intervals are in."""

        def delivered() -> bool:
            handed = [
                p for node in self.cluster.nodes for p in self.node_spool(node).glob("jobs/*")
            ]
            shipped = all(self.outbox(node) == 0 for node in self.cluster.nodes)
            nodes = {r.node for r in stored(self, job_id)}
            return not handed and shipped and nodes == set(self.cluster.nodes)

        self.wait_for(delivered, f"job {job_id}'s intervals", DELIVERY_DEADLINE_S)

    def gpu_states(self, node: str) -> list[dict[str, Any]]:
        """The node's simulated GPUs' states, as the simulator keeps them."""
        return [json.loads(path.read_text()) for path in self.sim_dir(node).glob("gpu*.json")]

    def caps_changed(self) -> int:
        """Simulated GPUs, on every node, whose limit is not their default."""
        return sum(
            state["limit_mw"] != state["default_mw"]
            for node in self.cluster.nodes
            for state in self.gpu_states(node)
        )

    def drained_nodes(self) -> int:
        states = self.cluster.run("sinfo", "-h", "-N", "-o", "%N %T").split("\n")
        return sum(
            line.split()[1].rstrip("*~#$") not in HEALTHY_NODE_STATES for line in states if line
        )

    def result_node_coverage(self, job_id: str) -> float | None:
        """The share of the job's node-time its stored result says its intervals cover."""
        engine = make_engine(self.service.db_url)
        try:
            with session_factory(engine)() as session:
                job = find_job(session, "sclocal", int(job_id))
                result = None if job is None else get_result(session, job.id)
                return None if result is None else result.node_coverage
        finally:
            engine.dispose()

    def account(
        self, fault: str, job_id: str, node_clock_s: dict[str, float] | None = None
    ) -> FaultRow:
        """Waits for the job, its intervals and its result; prints and records its row.

        ``node_clock_s``: how far a node's clock is off (seconds, + ahead), so that its
        intervals are held to sacct's Start..End read on its own clock.
        """
        fields = ("JobID", "State", "Start", "End")
        rows = self.cluster.wait_for_job(
            job_id, fields=fields, filled=("End",), timeout_s=JOB_DEADLINE_S
        )
        failed = sum(r["State"] != "COMPLETED" for r in rows)
        job = (float(rows[0]["Start"]), float(rows[0]["End"]))
        self.wait_delivered(job_id)
        intervals = [r for r in stored(self, job_id) if r.kind == "gpu"]
        accounts = []
        for node in self.cluster.nodes:
            truth = json.loads((self.work / f"run-{job_id}-{node}.json").read_text())
            for gpu in truth["gpus"]:
                state = json.loads(state_path(self.sim_dir(node), gpu["minor"]).read_text())
                spans = [r for r in intervals if (r.node, r.device_uuid) == (node, gpu["uuid"])]
                work = {"energy_j": gpu["energy_j"], "duration_s": truth["duration_s"]}
                offset_s = (node_clock_s or {}).get(node, 0.0)
                on_node = (job[0] + offset_s, job[1] + offset_s)
                accounts.append(account_gpu(work, state["profile"]["idle_power_w"], spans, on_node))
        assert len(accounts) == MULTINODE_NODES * GPUS_PER_JOB_NODE, accounts
        stored_j = sum(a.stored_j for a in accounts)
        # A result settled before the last intervals came in is recomputed at a later sweep.
        self.wait_for(
            lambda: result_gpu_j(self, job_id) == pytest.approx(stored_j, rel=1e-6),
            f"job {job_id}'s result equal to its {stored_j:.0f} J stored",
            RESULT_DEADLINE_S,
        )
        row = FaultRow(
            fault=fault,
            expected_j=sum(a.expected_j for a in accounts),
            stored_j=stored_j,
            lost_j=sum(max(0.0, a.expected_j - a.stored_j) for a in accounts),
            double_counted_j=sum(max(0.0, a.stored_j - a.expected_j) for a in accounts),
            missing_coverage=sum(a.missing_s for a in accounts) / sum(a.window_s for a in accounts),
            caps_changed=self.caps_changed(),
            drained_nodes=self.drained_nodes(),
            failed_jobs=failed,
        )
        print(row.line())
        RESULTS_TSV.parent.mkdir(exist_ok=True)
        new = not RESULTS_TSV.exists()
        with RESULTS_TSV.open("a") as results:
            results.write((RESULTS_HEADER if new else "") + row.tsv())
        return row


@pytest.fixture(scope="module", name="fault_rig")
def fault_rig_fixture(
    slurm_cluster: SlurmCluster,
    postgres_databases: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FaultRig]:
    """The 2-node rig, its agents reading their GPUs, the writer running; all stopped after,
    and the cluster back to its single node."""
    del slurm_cluster  # started first, so that the 2-node start below finds it
    with fault_rig_running(postgres_databases, tmp_path_factory.mktemp("faults")) as rig:
        yield rig


@contextmanager
def fault_rig_running(
    postgres_databases: PostgresDatabases, work: Path, start_env: dict[str, str] | None = None
) -> Iterator[FaultRig]:
    """The rig of :func:`fault_rig_fixture` in ``work``; ``start_env``: variables for its
    ``deploy/local/cluster start --nodes 2`` (e.g. a node's clock offset)."""
    with nodes_running(FaultRig, postgres_databases, work, "faults", start_env) as rig:
        rig.start_writer()
        yield rig
