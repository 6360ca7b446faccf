"""Fixtures for integration tests against the private Slurm cluster (deploy/local/cluster).

The cluster is started once per session and left running afterwards: a warm start
takes ~3 s (~7 s cold), a rerun finds it up and starts nothing, and every integration
module shares it. ``scripts/test`` stops it again when it was the one to start it;
``deploy/local/cluster stop`` does so by hand.

The helpers are methods of the fixture's value, so test modules need no imports
from here.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from slurm_carbon.cli.supervisor import (
    ChildFailed,
    free_port,
    start_child,
    stop_child,
    wait_healthy,
)
from slurm_carbon.slurm import TERMINAL_STATES
from slurm_carbon.store import issue_token, make_engine, session_factory, upgrade


@dataclass(frozen=True)
class HookCall:
    """One line of hooks.log: ``<time> <hook> key=value ... [comment=<free text>]``."""

    hook: str
    fields: dict[str, str]


@dataclass(frozen=True)
class SlurmCluster:
    """A running local cluster, as the tests see it."""

    script: ClassVar[Path] = Path(__file__).resolve().parents[2] / "deploy/local/cluster"

    env: dict[str, str]  # os.environ, SLURM_CONF etc., SBATCH_OUTPUT: pass it to subprocess
    state_dir: Path
    hooks_log: Path
    node_name: str  # the first node
    nodes: tuple[str, ...] = ()  # every node (cluster env's SLURM_CARBON_NODES)

    def run(self, *args: str, timeout_s: float = 30) -> str:
        """Runs a Slurm client command against the cluster; returns its stdout."""
        result = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"{shlex.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    def sbatch(self, *args: str) -> str:
        """Submits a batch job; returns its id (the array id for an array)."""
        return self.run("sbatch", "--parsable", *args).strip().split(";")[0]

    def sacct(self, job_id: str, fields: Sequence[str]) -> list[dict[str, str]]:
        """One dict per allocation (each array task apart) of ``job_id``, as sacct has it now.

        Times are epoch seconds. Only the last field may contain ``|``.
        """
        out = self.run(
            "sacct", "-P", "-n", "-X", "--noconvert", "-j", job_id, "-o", ",".join(fields)
        )
        return [
            dict(zip(fields, line.split("|", len(fields) - 1), strict=True))
            for line in out.splitlines()
            if line
        ]

    def wait_for_job(
        self,
        job_id: str,
        *,
        tasks: int = 1,
        fields: Sequence[str] = ("JobID", "State", "ExitCode"),
        filled: Sequence[str] = (),
        timeout_s: float = 60,
    ) -> list[dict[str, str]]:
        """Polls sacct until ``job_id`` has ``tasks`` rows, all in a terminal state.

        ``sbatch --wait`` polls only every 10 s, hence this. ``fields`` must include
        State. Slurm 22.05 fills some fields of a finished job's row seconds after
        its state (ReqTRES, and whole rows of array tasks, can lag ~5 s): name those
        the test reads in ``filled`` to wait until they are non-empty as well.
        Returns the rows; fails the test at the deadline with what sacct said.
        """
        deadline = time.monotonic() + timeout_s
        rows: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            rows = self.sacct(job_id, fields)
            # A state may carry a reason: "CANCELLED by 0".
            if len(rows) == tasks and all(
                r["State"].split()[0] in TERMINAL_STATES and all(r[f] for f in filled) for r in rows
            ):
                return rows
            time.sleep(0.25)
        pytest.fail(f"job {job_id}: not {tasks} finished row(s) after {timeout_s} s: {rows}")

    def hook_calls(self) -> list[HookCall]:
        """Parses the hook shims' log; a missing log holds no calls."""
        calls = []
        text = self.hooks_log.read_text() if self.hooks_log.exists() else ""
        for line in text.splitlines():
            head, sep, comment = line.partition(" comment=")
            _time, hook, *pairs = head.split(" ")
            fields = dict(pair.split("=", 1) for pair in pairs)
            if sep:
                fields["comment"] = comment
            calls.append(HookCall(hook=hook, fields=fields))
        return calls

    def wait_for_hooks(
        self, job_id: str, hooks: Sequence[str], timeout_s: float = 30
    ) -> dict[str, HookCall]:
        """Polls hooks.log until each of ``hooks`` has logged a call for ``job_id``.

        ``job_id`` is the raw id (an array task's own id). Returns the last call per
        hook; fails the test at the deadline.
        """
        deadline = time.monotonic() + timeout_s
        found: dict[str, HookCall] = {}
        while time.monotonic() < deadline:
            found = {c.hook: c for c in self.hook_calls() if c.fields.get("job") == job_id}
            if all(hook in found for hook in hooks):
                return found
            time.sleep(0.2)
        pytest.fail(f"hooks {list(hooks)} for job {job_id} not all in {self.hooks_log}: {found}")

    def cluster_script(
        self, command: str, *args: str, timeout_s: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Runs ``deploy/local/cluster <command> <args>``."""
        return run_cluster_script(command, *args, timeout_s=timeout_s)


def run_cluster_script(
    command: str, *args: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs ``deploy/local/cluster <command> <args>``."""
    return subprocess.run(
        [str(SlurmCluster.script), command, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def parse_env(text: str) -> dict[str, str]:
    """Reads the ``export NAME=value`` lines that ``deploy/local/cluster env`` prints."""
    variables = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            variables[name] = value
    return variables


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """Starts the local cluster (or finds it running) and describes it.

    Fails, never skips: a test that needs Slurm must not pass unnoticed without it.
    """
    return start_cluster()


@pytest.fixture
def multinode_cluster(slurm_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    """The local cluster with MULTINODE_NODES nodes, each in its own network namespace.

    Back to the single node afterwards, whatever happened, so that the tests after it
    find the cluster ``slurm_cluster`` described. Run under the servers' lock (flock).
    """
    try:
        yield start_cluster(MULTINODE_NODES)
    finally:
        start_cluster()


# Two nodes: the fewest a multi-node job needs; each costs a slurmd and an agent.
MULTINODE_NODES = 2


def start_cluster(nodes: int = 1) -> SlurmCluster:
    """``deploy/local/cluster start --nodes <nodes>``; fails the test if it fails."""
    started = run_cluster_script("start", "--nodes", str(nodes))
    if started.returncode != 0:
        pytest.fail(
            f"deploy/local/cluster start failed ({started.returncode}):\n"
            f"{started.stdout}{started.stderr}",
            pytrace=False,
        )
    printed = run_cluster_script("env")
    assert printed.returncode == 0, printed.stderr
    exported = parse_env(printed.stdout)
    nodes_named = tuple(exported["SLURM_CARBON_NODES"].split(","))
    node_name = nodes_named[0]
    state_dir = Path(exported["SLURM_CONF"]).parent.parent
    # Job output goes to the state dir, not into whatever directory pytest runs in.
    job_output_dir = state_dir / "jobs"
    job_output_dir.mkdir(exist_ok=True)
    env = {
        **os.environ,
        **exported,
        "SLURM_TIME_FORMAT": "%s",
        "SBATCH_OUTPUT": str(job_output_dir / "slurm-%j.out"),
    }
    return SlurmCluster(
        env=env,
        state_dir=state_dir,
        hooks_log=Path(exported["SLURM_CARBON_SPOOL"]) / "hooks.log",
        node_name=node_name,
        nodes=nodes_named,
    )


@dataclass
class ServiceProcess:
    """``slurm-carbon service`` on a free loopback port over a fresh PostgreSQL database."""

    db_url: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"  # a multi-node cluster's nodes reach the host at its bridge address

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, workers: int = 1) -> None:
        """Starts the service and waits, with a deadline, until /healthz answers 200."""
        self.process = start_child(
            self.log,
            *("service", "--url", self.db_url, "--host", self.host, "--port", str(self.port)),
            *("--workers", str(workers)),
        )
        try:
            wait_healthy(self.url, self.process, poll_s=0.1)
        except ChildFailed as err:
            pytest.fail(f"{err}:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Stops it with SIGTERM (SIGKILL after 15 s)."""
        if self.process is not None:
            stop_child(self.process)


@pytest.fixture(params=["postgresql"])
def service_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceProcess]:
    """The service over a fresh, migrated database; always stopped after.

    PostgreSQL unless a module parametrizes it indirectly with ``"sqlite"`` too.
    """
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'service.db'}"
    else:
        db_url = request.getfixturevalue("postgres_databases").create("service")
    upgrade(db_url)
    service = ServiceProcess(db_url, tmp_path / "service.log")
    service.start()
    try:
        yield service
    finally:
        service.stop()


SLURM_CARBON = str(Path(sys.executable).with_name("slurm-carbon"))


@dataclass
class Rig:
    """The local cluster with 4 simulated GPUs, a service, and a node agent of our own.

    Child processes (the agent, a writer) log to ``work``; every one still running
    is stopped when the test ends.
    """

    cluster: SlurmCluster
    service: ServiceProcess
    work: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)

    @property
    def spool(self) -> Path:
        return Path(self.cluster.env["SLURM_CARBON_SPOOL"])

    @property
    def sim_dir(self) -> Path:
        return self.work / "sim"

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Starts ``slurm-carbon <args>`` as the child called ``name``."""
        log = self.work / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        process = start_child(log, *args, env=self.cluster.env)
        self.processes[name] = process
        return process

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        """Ends the child ``name`` with ``sig`` (SIGKILL after 15 s) and waits for it."""
        process = self.processes.pop(name, None)
        if process is not None:
            stop_child(process, sig)

    def start_agent(self) -> subprocess.Popen[bytes]:
        """The agent on the simulated GPUs, once it has read them all (energy before an
        agent's first reading of a GPU cannot be known, so jobs start after it)."""
        agent = self.start(
            "agent",
            *("agent", "run", "--spool", str(self.spool), "--state", str(self.work / "agent")),
            *("--socket", str(self.work / "agent.sock")),
            *("--service-url", self.service.url, "--token-file", str(self.work / "token")),
            *("--cluster", "sclocal", "--node", self.cluster.node_name, "--gpu-backend", "sim"),
            *("--sim-dir", str(self.sim_dir), "--sample-s", "0.2", "--interval-s", "5"),
            *("--tdp-w", "100", "--log-level", "DEBUG"),
        )
        self.wait_for(lambda: self._gpus_read() == 4, "the agent's first reading of 4 GPUs")
        return agent

    def _agent_db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.work / "agent" / "agent.db")

    def _gpus_read(self) -> int:
        try:
            with self._agent_db() as spool:
                query = "SELECT count(*) FROM reading WHERE device LIKE 'GPU-%'"
                return int(spool.execute(query).fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0

    def agent_holds(self, job_id: str | int) -> bool:
        """Whether the agent still tracks the job or holds intervals it has not shipped."""
        jobs = self.spool / "jobs"
        if (jobs / f"{job_id}.start").exists() or (jobs / f"{job_id}.stop").exists():
            return True
        with self._agent_db() as spool:
            return bool(spool.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def submit_work(self, *sbatch: str, units: float) -> str:
        """A job running ``units`` of simulated GPU work; its ground truth in ``run-<id>.json``."""
        return self.cluster.sbatch(
            *sbatch,
            f"--wrap={SLURM_CARBON} sim work --dir {self.sim_dir} --units {units}"
            f" --tick 0.05 --result {self.work}/run-$SLURM_JOB_ID.json",
        )

    def log_tails(self) -> str:
        return "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in self.logs)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
        """Polls ``condition`` until true; fails the test at the deadline with the logs."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not after {timeout_s} s\n{self.log_tails()}")
            time.sleep(0.1)


@pytest.fixture
def rig(
    slurm_cluster: SlurmCluster, service_process: ServiceProcess, tmp_path: Path
) -> Iterator[Rig]:
    """A :class:`Rig` with its agent running; a token issued for the node; clean hand-offs."""
    subprocess.run(
        [SLURM_CARBON, "sim", "init", "--dir", str(tmp_path / "sim"), "--gpus", "4"],
        check=True,
        capture_output=True,
    )
    engine = make_engine(service_process.db_url)
    try:
        with session_factory(engine).begin() as session:
            token = issue_token(session, "sclocal", slurm_cluster.node_name)
    finally:
        engine.dispose()
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    spool = Path(slurm_cluster.env["SLURM_CARBON_SPOOL"])
    # Hand-offs of earlier sessions' jobs are not ours to account.
    for old in [*(spool / "jobs").glob("*"), *(spool / "ended").glob("*")]:
        old.unlink()
    rig = Rig(slurm_cluster, service_process, tmp_path)
    rig.start_agent()
    try:
        yield rig
    finally:
        for name in list(rig.processes):
            rig.stop(name)
