"""A multi-node cluster on this machine (``deploy/local/cluster start --nodes N``).

Each node is a slurmd in its own network namespace; one slurmctld, slurmdbd, MariaDB
and munge on the host. A multi-node job's steps run on every node, each node's agent
(started in the node's namespace) measures its own simulated GPUs, and the service
on the host stores each node's intervals apart.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from slurm_carbon.cli.supervisor import stop_child
from slurm_carbon.sensors.sim import state_path
from slurm_carbon.store import issue_token, make_engine, session_factory, upgrade
from slurm_carbon.store.results import StoredInterval, find_job, get_result, job_intervals
from slurm_carbon.units import format_energy
from tests.integration.conftest import (
    MULTINODE_NODES,
    SLURM_CARBON,
    ServiceProcess,
    start_cluster,
)

if TYPE_CHECKING:
    from tests.conftest import PostgresDatabases
    from tests.integration.conftest import SlurmCluster

pytestmark = pytest.mark.integration

# How long a job's last intervals may take to reach the store after it ends: the
# agents' 5 s intervals plus shipping, with margin for a loaded 2-core machine.
DELIVERY_DEADLINE_S = 90
# sacct's lag in filling a finished job's fields (ReqTRES, array rows: ~5 s), doubled.
NODE_LIST_DEADLINE_S = 10
GPUS_PER_NODE = 4  # the fake GPUs deploy/local/cluster gives each node


def command_output(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=False).stdout


def wait_node_list(cluster: SlurmCluster, job_id: str) -> str:
    """The job's NodeList once it names more than one node: sacct first shows the first
    node alone for a moment after the job has ended (22.05). The last seen at the deadline.
    """
    deadline = time.monotonic() + NODE_LIST_DEADLINE_S
    node_list = ""
    while time.monotonic() < deadline:
        [row] = cluster.sacct(job_id, ("JobID", "NodeList"))
        node_list = row["NodeList"]
        if "[" in node_list:
            break
        time.sleep(0.25)
    return node_list


@dataclass
class Nodes:
    """A multi-node cluster, a service on the host's bridge address, an agent on each node."""

    cluster: SlurmCluster
    service: ServiceProcess
    work: Path
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # and the writer

    def node_spool(self, node: str) -> Path:
        return self.cluster.state_dir / "node" / node / "spool" / "carbon"

    def sim_dir(self, node: str) -> Path:
        return self.work / f"sim-{node}"

    def start_agent(self, node: str) -> None:
        """The node's agent, in its namespace, on the node's own simulated GPUs."""
        log = (self.work / f"agent-{node}.log").open("ab")
        self.agents[node] = subprocess.Popen(
            [str(self.cluster.script), "exec", node, SLURM_CARBON, "agent", "run"]
            + ["--spool", str(self.node_spool(node)), "--state", str(self.work / f"agent-{node}")]
            + ["--socket", str(self.work / f"agent-{node}.sock")]
            + ["--service-url", self.service.url, "--token-file", str(self.work / f"token-{node}")]
            + ["--cluster", "sclocal", "--node", node, "--gpu-backend", "sim"]
            + ["--sim-dir", str(self.sim_dir(node)), "--sample-s", "0.2", "--interval-s", "5"]
            + ["--tdp-w", "100", "--log-level", "DEBUG"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.cluster.env,
        )
        log.close()

    def gpus_read(self, node: str) -> int:
        try:
            with sqlite3.connect(self.work / f"agent-{node}" / "agent.db") as spool:
                query = "SELECT count(*) FROM reading WHERE device LIKE 'GPU-%'"
                return int(spool.execute(query).fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0

    def outbox(self, node: str) -> int:
        """Intervals the node's agent holds and has not shipped."""
        with sqlite3.connect(self.work / f"agent-{node}" / "agent.db") as spool:
            return int(spool.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def start_writer(self) -> None:
        """``slurm-carbon writer`` on the host, settling ended jobs from the controller's spool.

        Once: a writer already running is kept.
        """
        if "writer" in self.agents and self.agents["writer"].poll() is None:
            return
        log = (self.work / "writer.log").open("ab")
        self.agents["writer"] = subprocess.Popen(
            [SLURM_CARBON, "writer", "--url", self.service.db_url]
            + ["--spool", self.cluster.env["SLURM_CARBON_SPOOL"], "--region", "SE", "--pue", "1.2"]
            + ["--poll-s", "0.5", "--sweep-s", "2", "--settle-delay-s", "8"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.cluster.env,
        )
        log.close()

    def reads_all_gpus(self, node: str) -> Callable[[], bool]:
        """Whether the node's agent has read each of its GPUs (jobs start after that)."""
        return lambda: self.gpus_read(node) == GPUS_PER_NODE

    def logs(self) -> str:
        return "\n".join(
            f"--- {log}\n{log.read_text()[-3000:]}" for log in sorted(self.work.glob("*.log"))
        )

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not after {timeout_s} s\n{self.logs()}")
            time.sleep(0.2)


RigT = TypeVar("RigT", bound=Nodes)


@contextmanager
def nodes_running(
    rig_type: type[RigT],
    postgres_databases: PostgresDatabases,
    work: Path,
    purpose: str,
    start_env: dict[str, str] | None = None,
) -> Iterator[RigT]:
    """A ``rig_type`` rig in ``work``: the 2-node cluster, a database for ``purpose``,
    tokens issued per node, a service for them, an agent on each reading its GPUs.

    ``start_env``: variables for ``deploy/local/cluster start --nodes 2`` (e.g. a
    node's clock offset). All stopped after, and the cluster back to its single node.
    """
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in (start_env or {}).items():
                patch.setenv(name, value)
            cluster = start_cluster(MULTINODE_NODES)
        db_url = postgres_databases.create(purpose)
        upgrade(db_url)
        service = ServiceProcess(
            db_url, work / "service.log", host=cluster.env["SLURM_CARBON_HOST_ADDR"]
        )
        engine = make_engine(db_url)
        try:
            with session_factory(engine).begin() as session:
                tokens = {node: issue_token(session, "sclocal", node) for node in cluster.nodes}
        finally:
            engine.dispose()
        rig = rig_type(cluster, service, work)
        for node, token in tokens.items():
            subprocess.run(
                [SLURM_CARBON, "sim", "init", "--dir", str(rig.sim_dir(node)), "--gpus", "4"],
                check=True,
                capture_output=True,
            )
            (work / f"token-{node}").write_text(token + "\n")
            (work / f"token-{node}").chmod(0o600)
            for old in rig.node_spool(node).glob("*/*"):  # earlier sessions' hand-offs
                old.unlink()
        service.start()
        try:
            for node in cluster.nodes:
                rig.start_agent(node)
            for node in cluster.nodes:
                rig.wait_for(rig.reads_all_gpus(node), f"{node}'s agent reading its GPUs", 30)
            yield rig
        finally:
            for agent in rig.agents.values():
                stop_child(agent)
            service.stop()
    finally:
        start_cluster()


@pytest.fixture(scope="module")
def nodes(
    slurm_cluster: SlurmCluster,
    postgres_databases: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Nodes]:
    """The rig of :func:`nodes_running`, one for the module's tests (a cluster start
    costs ~10 s)."""
    del slurm_cluster  # started first, so that the 2-node start below finds it
    work = tmp_path_factory.mktemp("multinode")
    with nodes_running(Nodes, postgres_databases, work, "multinode") as rig:
        yield rig


def test_nodes_run_in_their_own_namespaces_and_stop_removes_only_those(
    multinode_cluster: SlurmCluster,
) -> None:
    cluster = multinode_cluster
    assert cluster.nodes == ("scn1", "scn2")
    states = cluster.run("sinfo", "-h", "-N", "-o", "%N %T").split("\n")
    assert sorted(filter(None, states)) == ["scn1 idle", "scn2 idle"]

    job_id = cluster.sbatch(
        "-N",
        "2",
        "--gres=gpu:2",
        "--wrap",
        "srun sh -c 'echo $SLURMD_NODENAME $(ip -4 -o addr show dev eth0 | cut -d\" \" -f7)'",
    )
    [row] = cluster.wait_for_job(job_id, fields=("JobID", "State", "NodeList"))
    assert row["State"] == "COMPLETED"
    assert wait_node_list(cluster, job_id) == "scn[1-2]"
    output = (cluster.state_dir / "jobs" / f"slurm-{job_id}.out").read_text().split("\n")
    assert sorted(filter(None, output)) == ["scn1 10.213.0.11/24", "scn2 10.213.0.12/24"]
    for node in cluster.nodes:  # each node's hooks log to its own spool
        log = cluster.state_dir / "node" / node / "spool" / "carbon" / "hooks.log"
        lines = log.read_text().splitlines()
        calls = [line.split()[1] for line in lines if f" job={job_id} " in line]
        assert calls == ["prolog", "epilog"], (node, calls)

    made = (cluster.state_dir / "network").read_text().split()[1::2]
    subprocess.run(["ip", "netns", "add", "sctest-foreign"], check=True)
    try:
        back = cluster.cluster_script("start")
        assert back.returncode == 0, back.stderr
        assert "sctest-foreign" in command_output("ip", "netns", "list")
    finally:
        subprocess.run(["ip", "netns", "delete", "sctest-foreign"], check=True)
    links = command_output("ip", "-o", "link")
    assert made
    assert not [
        name
        for name in made
        if name in command_output("ip", "netns", "list") or f" {name}" in links
    ]
    assert cluster.run("sinfo", "-h", "-N", "-o", "%N %T").split() == [
        cluster.run("hostname", "-s").strip(),
        "idle",
    ]


def test_a_two_node_job_is_measured_per_node_and_summed_against_ground_truth(
    nodes: Nodes,
) -> None:
    work = nodes.work
    job_id = nodes.cluster.sbatch(
        *("-N", "2", "--gres=gpu:2"),
        "--wrap=srun sh -c 'exec "
        + f"{SLURM_CARBON} sim work --dir {work}/sim-$SLURMD_NODENAME --gpus $SLURM_STEP_GPUS"
        + f" --units 6 --tick 0.05 --result {work}/run-$SLURM_JOB_ID-$SLURMD_NODENAME.json'",
    )
    [row] = nodes.cluster.wait_for_job(job_id, fields=("JobID", "State", "NodeList"))
    assert row["State"] == "COMPLETED"
    assert wait_node_list(nodes.cluster, job_id) == "scn[1-2]"

    def delivered() -> bool:
        handed = [p for node in nodes.cluster.nodes for p in nodes.node_spool(node).glob("jobs/*")]
        shipped = all(nodes.outbox(node) == 0 for node in nodes.cluster.nodes)
        return (
            not handed and shipped and {r.node for r in stored(nodes, job_id)} == {"scn1", "scn2"}
        )

    nodes.wait_for(delivered, f"job {job_id}'s intervals from both nodes", DELIVERY_DEADLINE_S)

    rows = [r for r in stored(nodes, job_id) if r.kind == "gpu"]
    expected: dict[tuple[str, str], float] = {}
    for node in nodes.cluster.nodes:
        expected.update(gpu_truth(nodes, job_id, node, rows, gpus=2))
    measured = gpu_measured(rows)
    assert measured.keys() == expected.keys()
    assert len(measured) == 4  # 2 GPUs on each of 2 nodes
    for key, energy_j in measured.items():
        assert energy_j == pytest.approx(expected[key], rel=0.01), (key, measured, expected)
    assert sum(measured.values()) == pytest.approx(sum(expected.values()), rel=0.01)
    total_j = sum(measured.values())
    print(f"job {job_id}: expected {sum(expected.values()):.0f} J, stored {total_j:.0f} J")

    # The writer on the host settles the job: its GPU energy is the sum over its nodes.
    nodes.start_writer()
    nodes.wait_for(lambda: result_gpu_j(nodes, job_id) is not None, "the job's result", 60)
    assert result_gpu_j(nodes, job_id) == pytest.approx(total_j, rel=1e-6)
    shown = subprocess.run(
        [SLURM_CARBON, "report", "--url", nodes.service.db_url, "-j", job_id],
        capture_output=True,
        text=True,
        check=True,
        env=nodes.cluster.env,
    ).stdout
    assert "Energy by node" in shown, shown
    for node in nodes.cluster.nodes:
        gpu_j = sum(j for (name, _), j in measured.items() if name == node)
        assert re.search(rf"{node}\s.*\s{re.escape(format_energy(gpu_j))}\s", shown), shown


def gpu_truth(
    nodes: Nodes, job_id: str, node: str, rows: list[StoredInterval], *, gpus: int
) -> dict[tuple[str, str], float]:
    """The simulators' energy of each of the job's GPUs on ``node``, by (node, GPU UUID).

    The workload's own energy (its ``--result`` file, ``run-<job>-<node>.json``) plus
    the GPU's idle power over the rest of its stored intervals' window. Units: joules.
    """
    truth = json.loads((nodes.work / f"run-{job_id}-{node}.json").read_text())
    assert truth["completed"]
    assert len(truth["gpus"]) == gpus
    expected: dict[tuple[str, str], float] = {}
    for gpu in truth["gpus"]:
        spans = [(r.start, r.end) for r in rows if (r.node, r.device_uuid) == (node, gpu["uuid"])]
        window_s = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
        state = json.loads(state_path(nodes.sim_dir(node), gpu["minor"]).read_text())
        idle_w = state["profile"]["idle_power_w"]
        expected[node, gpu["uuid"]] = gpu["energy_j"] + idle_w * (window_s - truth["duration_s"])
    return expected


def gpu_measured(rows: list[StoredInterval]) -> dict[tuple[str, str], float]:
    """The stored GPU energy by (node, GPU UUID). Units: joules."""
    measured: dict[tuple[str, str], float] = {}
    for r in rows:
        measured[r.node, r.device_uuid] = measured.get((r.node, r.device_uuid), 0.0) + r.energy_j
    return measured


def gpu_rows(nodes: Nodes, job_id: str) -> list[StoredInterval]:
    """The job's stored GPU intervals."""
    return [r for r in stored(nodes, job_id) if r.kind == "gpu"]


def result_gpu_j(nodes: Nodes, job_id: str) -> float | None:
    """The GPU energy of the job's stored result; None before the writer stored one."""
    engine = make_engine(nodes.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            result = None if job is None else get_result(session, job.id)
            return None if result is None else result.gpu_energy_j
    finally:
        engine.dispose()


def stored(nodes: Nodes, job_id: str) -> list[StoredInterval]:
    engine = make_engine(nodes.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            return [] if job is None else job_intervals(session, job.id)
    finally:
        engine.dispose()


def sim_work(work: Path, name: str) -> str:
    """A step running the simulated workload on its node's GPUs; truth: run-<name>-<node>.json."""
    return (
        f"srun sh -c 'exec {SLURM_CARBON} sim work --dir {work}/sim-$SLURMD_NODENAME"
        f" --gpus $SLURM_STEP_GPUS --units 6 --tick 0.05"
        f" --result {work}/run-{name}-$SLURMD_NODENAME.json'"
    )


def wait_settled(nodes: Nodes, raw_ids: list[str]) -> dict[str, float]:
    """The stored results' GPU energy of the jobs (raw ids) once the writer settled them all.

    Settled: each result's GPU energy is its stored intervals' (a result computed
    before the last intervals arrived is stale, and the writer computes it again).
    """
    nodes.start_writer()
    found: dict[str, float | None] = {}

    def settled() -> bool:
        found.update({raw: result_gpu_j(nodes, raw) for raw in raw_ids})
        return all(
            value is not None
            and value == pytest.approx(sum(gpu_measured(gpu_rows(nodes, raw)).values()), rel=1e-6)
            for raw, value in found.items()
        )

    nodes.wait_for(settled, f"the results of {raw_ids}", 90)
    return {raw: value for raw, value in found.items() if value is not None}


def test_array_tasks_and_het_components_are_each_their_own_nodes_energy(nodes: Nodes) -> None:
    """22.05 (recorded here): an array's tasks are jobs of their own (sacct ``842_0`` with
    JobIDRaw 845, ..., and ``842_3`` keeps the array's id as its raw id); a hetjob's
    components too (``843+0`` raw 843 on scn1, ``843+1`` raw 844 on scn2). Each node's
    Prolog gets the raw id (``job=844`` on scn2) and no SLURM_ARRAY_* or SLURM_HET_*;
    EpilogSlurmctld gets SLURM_ARRAY_JOB_ID/TASK_ID for a task, nothing het for a component.
    A het step's SLURM_JOB_ID is the leader's (843) on every node.
    """
    work = nodes.work
    array_id = nodes.cluster.sbatch(
        "--array=0-3", "-N", "1", "--gres=gpu:1", "--wrap=" + sim_work(work, "$SLURM_JOB_ID")
    )
    script = work / "het.sh"
    script.write_text(
        "#!/bin/sh\n#SBATCH -N1 --gres=gpu:1\n#SBATCH hetjob\n#SBATCH -N1 --gres=gpu:1\n"
        + sim_work(work, "het$SLURM_JOB_ID").replace("srun ", "srun --het-group=0,1 ")
        + "\n"
    )
    het_id = nodes.cluster.sbatch(str(script))
    fields = ("JobID", "JobIDRaw", "State", "NodeList")
    tasks = nodes.cluster.wait_for_job(array_id, tasks=4, fields=fields)
    components = nodes.cluster.wait_for_job(het_id, tasks=2, fields=fields)
    assert [t["JobID"] for t in tasks] == [f"{array_id}_{i}" for i in range(4)]
    assert [c["JobID"] for c in components] == [f"{het_id}+0", f"{het_id}+1"]
    assert {c["NodeList"] for c in components} == {"scn1", "scn2"}
    assert {t["State"] for t in tasks + components} == {"COMPLETED"}
    assert {t["NodeList"] for t in tasks} == {"scn1", "scn2"}  # spread over both nodes

    runs = [(t["JobIDRaw"], t["NodeList"], t["JobIDRaw"]) for t in tasks] + [
        (c["JobIDRaw"], c["NodeList"], f"het{het_id}") for c in components
    ]

    def delivered() -> bool:
        handed = [p for node in nodes.cluster.nodes for p in nodes.node_spool(node).glob("jobs/*")]
        shipped = all(nodes.outbox(node) == 0 for node in nodes.cluster.nodes)
        return not handed and shipped and all(stored(nodes, raw) for raw, _, _ in runs)

    nodes.wait_for(delivered, "every task's and component's intervals", DELIVERY_DEADLINE_S)
    results = wait_settled(nodes, [raw for raw, _, _ in runs])
    for raw, node, name in runs:
        rows = [r for r in stored(nodes, raw) if r.kind == "gpu"]
        assert {r.node for r in rows} == {node}, (raw, rows)
        truth_j = sum(gpu_truth(nodes, name, node, rows, gpus=1).values())
        assert sum(gpu_measured(rows).values()) == pytest.approx(truth_j, rel=0.01), raw
        assert results[raw] == pytest.approx(truth_j, rel=0.01), raw
        print(f"job {raw} on {node}: expected {truth_j:.0f} J, result {results[raw]:.0f} J")
    listed = subprocess.run(
        [SLURM_CARBON, "report", "--url", nodes.service.db_url, "-P", "-n"],
        capture_output=True,
        text=True,
        check=True,
        env=nodes.cluster.env,
    ).stdout
    ids = {line.split("|")[0] for line in listed.splitlines()}
    assert {t["JobID"] for t in tasks} <= ids, listed
    assert {c["JobID"] for c in components} <= ids, listed  # 843+0, 843+1


def test_het_components_are_listed_as_slurm_names_them(nodes: Nodes) -> None:
    """``report`` lists 843+0 and 843+1 as sacct does, ``-j 843`` both, ``-j 843+1`` one."""
    script = nodes.work / "het-names.sh"
    script.write_text(
        "#!/bin/sh\n#SBATCH -N1 --gres=gpu:1\n#SBATCH hetjob\n#SBATCH -N1 --gres=gpu:1\n"
        + sim_work(nodes.work, "het$SLURM_JOB_ID").replace("srun ", "srun --het-group=0,1 ")
        + "\n"
    )
    het_id = nodes.cluster.sbatch(str(script))
    components = nodes.cluster.wait_for_job(het_id, tasks=2, fields=("JobID", "JobIDRaw", "State"))
    wait_settled(nodes, [c["JobIDRaw"] for c in components])
    listed = subprocess.run(
        [SLURM_CARBON, "report", "--url", nodes.service.db_url, "-P", "-n"],
        capture_output=True,
        text=True,
        check=True,
        env=nodes.cluster.env,
    ).stdout
    ids = {line.split("|")[0] for line in listed.splitlines()}
    assert {f"{het_id}+0", f"{het_id}+1"} <= ids, listed
    for selected, expected in (
        (het_id, [f"{het_id}+0", f"{het_id}+1"]),
        (f"{het_id}+1", [f"{het_id}+1"]),
    ):
        chosen = subprocess.run(
            [SLURM_CARBON, "report", "--url", nodes.service.db_url, "-P", "-n", "-j", selected],
            capture_output=True,
            text=True,
            check=True,
            env=nodes.cluster.env,
        ).stdout
        assert [line.split("|")[0] for line in chosen.splitlines()] == expected, chosen


def stored_result(nodes: Nodes, job_id: str) -> tuple[float, float | None, str | None] | None:
    """The job's stored GPU energy, node coverage and silent nodes; None before its result."""
    engine = make_engine(nodes.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            result = None if job is None else get_result(session, job.id)
            if result is None:
                return None
            return result.gpu_energy_j, result.node_coverage, result.missing_nodes
    finally:
        engine.dispose()


# The share of a 2-node job's node-time one reporting node covers: half, less the
# seconds between the job's start and its agent's first interval and after its last
# (sacct's times are whole seconds; the job runs ~10 s).
ONE_OF_TWO_COVERED = (0.3, 0.5 + 1e-9)


def test_a_node_whose_agent_is_down_is_missing_coverage_not_lower_energy(nodes: Nodes) -> None:
    """Last in the module: scn2's agent is stopped for good."""
    stop_child(nodes.agents.pop("scn2"))  # its hooks then find no agent and exit 0
    work = nodes.work
    job_id = nodes.cluster.sbatch(
        *("-N", "2", "--gres=gpu:1"),
        "--wrap=srun sh -c 'exec "
        + f"{SLURM_CARBON} sim work --dir {work}/sim-$SLURMD_NODENAME --gpus $SLURM_STEP_GPUS"
        + f" --units 6 --tick 0.05 --result {work}/run-$SLURM_JOB_ID-$SLURMD_NODENAME.json'",
    )
    [row] = nodes.cluster.wait_for_job(job_id, fields=("JobID", "State", "NodeList"))
    assert row["State"] == "COMPLETED"  # the node without an agent ran its part
    assert wait_node_list(nodes.cluster, job_id) == "scn[1-2]"
    states = nodes.cluster.run("sinfo", "-h", "-N", "-o", "%N %T").split("\n")
    assert sorted(filter(None, states)) == ["scn1 idle", "scn2 idle"]  # nothing drained

    def delivered() -> bool:
        handed = list(nodes.node_spool("scn1").glob("jobs/*"))
        return not handed and nodes.outbox("scn1") == 0 and bool(stored(nodes, job_id))

    nodes.wait_for(delivered, f"job {job_id}'s intervals from scn1", DELIVERY_DEADLINE_S)
    rows = [r for r in stored(nodes, job_id) if r.kind == "gpu"]
    assert {r.node for r in rows} == {"scn1"}
    expected = gpu_truth(nodes, job_id, "scn1", rows, gpus=1)
    truth_j = sum(expected.values())
    assert sum(gpu_measured(rows).values()) == pytest.approx(truth_j, rel=0.01)

    wait_settled(nodes, [job_id])
    found = stored_result(nodes, job_id)
    assert found is not None
    gpu_j, coverage, missing = found
    low, high = ONE_OF_TWO_COVERED
    assert coverage is not None
    assert low <= coverage <= high, coverage
    assert missing == "scn2"
    assert gpu_j == pytest.approx(truth_j, rel=0.01)  # scn1's truth: no pretend whole
    shown = subprocess.run(
        [SLURM_CARBON, "report", "--url", nodes.service.db_url, "-j", job_id],
        capture_output=True,
        text=True,
        check=True,
        env=nodes.cluster.env,
    ).stdout
    line = " ".join(next(x for x in shown.splitlines() if "Coverage" in x).split())
    share = f"{coverage * 100:.0f} %"
    assert line == f"Coverage {share} of node-time; no energy from scn2 (missing, not estimated)"
    print(f"job {job_id}: scn1 truth {truth_j:.0f} J, stored {gpu_j:.0f} J; {line}")
