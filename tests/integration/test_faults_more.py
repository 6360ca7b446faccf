"""The fault matrix, continued (issue 14): more faults on the 2-node rig of faults.py.

Like test_faults: each test runs a GPU job on both nodes, injects its fault while the
job runs, prints its row (appended to ``.local/faults.tsv``) and holds it to the goal.

- a node's spool disk full: the agent's state directory (agent.db, where it keeps each
  sample's energy before shipping) on a small tmpfs that a file then fills, for two
  intervals while the job runs; the agent logs it once, keeps its readings and counts
  the whole span once it can write again;
- batches duplicated and reordered on the wire: one agent ships through a proxy that
  sends every batch of intervals to the service a second time, after the next batch;
- a GPU's energy counter reset mid-job. NVML's total-energy counter is an unsigned
  64-bit count of millijoules with no maximum the driver reports, so the agent
  (``sensors.counters.counter_delta`` with no ``max_value``) cannot tell a wrap from a
  reset: either is a counter gone backwards, whose sample is integrated from power.
  The reset is that one event on the real rig (RAPL's wrap, which has a known maximum,
  is computed exactly and unit-tested in tests/unit/sensors);
- the writer SIGKILLed after it computed and stored a job's result, before it wrote
  the AdminComment (its ``sacctmgr`` stalled by a wrapper first on its ``PATH``);
- caps: the agent SIGKILLed while a GPU is capped, and the service gone while a GPU is
  capped; every GPU is back at its original limit within the agent's sweep period.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from slurm_carbon.sensors.sim import locked_state, state_path
from tests.integration.conftest import SLURM_CARBON
from tests.integration.faults import (
    JOB_DEADLINE_S,
    RESULT_DEADLINE_S,
    FaultRig,
    assert_goal,
    fault_rig_fixture,
)
from tests.integration.test_multinode import result_gpu_j

pytestmark = pytest.mark.integration

# The module's rig: pytest finds a fixture by the name it is bound to here.
fault_rig = fault_rig_fixture

# The small disk under one agent's state: room for its agent.db (a few hundred kB on
# the module's fresh rig) and little else, so filling it takes a moment.
SMALL_DISK = "16m"
# How long the disk stays full while the job runs: two of the agents' 5 s intervals.
DISK_FULL_S = 10
# The filler's writes. Units: bytes.
FILL_CHUNK = 1 << 16
# What the agent logs when agent.db cannot be written, and when it can again.
SPOOL_FULL_LOG = "agent.db cannot be written"
SPOOL_BACK_LOG = "agent.db can be written again"
# How long the proxy waits for the service: the agent's own request timeout is of the
# same order, and a service that takes longer is down for this test's purpose.
PROXY_TIMEOUT_S = 30
# Headers one HTTP hop must not pass on (RFC 9110 7.6.1), and those the proxy sets
# itself (requests has already decoded the body).
HOP_HEADERS = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)
# Batches re-sent out of order before the job ends: a ~30 s job's six 5 s intervals
# per GPU come in about as many batches, so at least two is a fault, not an accident.
MIN_REPLAYED = 2
# What marks the AdminComment written while the job runs (the writer's live value).
LIVE = ";live=1"
# How long the stalled sacctmgr sleeps if nobody kills it: beyond the test's deadlines.
STALL_S = 600
# The limit set-cap asks for: well inside the simulated GPUs' 100-300 W range and below
# their 300 W default, so a cap left in force is plain to see. Units: watts.
CAP_W = 150.0
# The agent's sweep period (``agent run --sweep-s``, 30 s by default): every GPU must be
# back at its original limit within it once the agent runs again or the job ends.
AGENT_SWEEP_S = 30.0
# How long the SIGKILLed agent stays gone while its GPU is capped: two 5 s intervals.
AGENT_DOWN_S = 10


@contextmanager
def small_disk(fault_rig: FaultRig, node: str) -> Iterator[Path]:
    """The node's agent restarted with its state directory on a ``SMALL_DISK`` tmpfs
    (agent.db copied over); back on the real disk, and restarted, after."""
    state = fault_rig.work / f"agent-{node}"
    kept = state.with_name(f"{state.name}.disk")
    fault_rig.stop_agent(node, signal.SIGTERM)
    state.rename(kept)
    state.mkdir(mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK},mode=0700", "tmpfs", str(state)],
        check=True,
    )
    try:
        for path in kept.iterdir():
            shutil.copy2(path, state / path.name)
        fault_rig.start_agent(node)
        yield state
    finally:
        if node in fault_rig.agents:
            fault_rig.stop_agent(node, signal.SIGTERM)
        (state / "filler").unlink(missing_ok=True)
        for path in state.iterdir():
            shutil.copy2(path, kept / path.name)
        subprocess.run(["umount", str(state)], check=True)
        state.rmdir()
        kept.rename(state)
        fault_rig.start_agent(node)


def fill(directory: Path) -> None:
    """Writes ``directory/filler`` until the filesystem has no room left."""
    with (directory / "filler").open("wb") as filler:
        try:
            while True:
                filler.write(bytes(FILL_CHUNK))
                filler.flush()
        except OSError as err:
            full = err
    assert full.errno == errno.ENOSPC, full


def test_a_full_spool_disk_is_logged_once_and_loses_nothing_unmarked(
    fault_rig: FaultRig,
) -> None:
    log = fault_rig.work / "agent-scn1.log"
    with small_disk(fault_rig, "scn1") as state:
        since = log.stat().st_size
        job_id = fault_rig.submit()
        fault_rig.wait_running(job_id)
        fill(state)
        time.sleep(DISK_FULL_S)
        (state / "filler").unlink()
        row = fault_rig.account("spool disk full", job_id)
        said = log.read_text()[since:]
    assert said.count(SPOOL_FULL_LOG) == 1, said[-3000:]
    assert said.count(SPOOL_BACK_LOG) >= 1, said[-3000:]
    assert_goal(row, missing_allowed=True)


class ReplayingProxy(ThreadingHTTPServer):
    """Passes an agent's requests to the service; each batch of intervals the service
    took (200) is sent to it a second time right after the next batch, so the service
    sees every batch twice, the copy after a newer batch. :meth:`flush` sends the last."""

    def __init__(self, host: str, upstream: str) -> None:
        super().__init__((host, 0), _ProxyHandler)
        self.upstream = upstream
        self.held: tuple[bytes, dict[str, str]] | None = None
        self.replayed: list[int] = []  # the service's status for each copy
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def took(self, body: bytes, headers: dict[str, str]) -> None:
        """A batch the service took: the one before it goes again, this one waits."""
        with self.lock:
            previous, self.held = self.held, (body, headers)
            if previous is not None:
                self._send(previous)

    def flush(self) -> None:
        with self.lock:
            if self.held is not None:
                self._send(self.held)
                self.held = None

    def _send(self, batch: tuple[bytes, dict[str, str]]) -> None:
        body, headers = batch
        url = self.upstream + "/api/v1/intervals"
        response = requests.post(url, data=body, headers=headers, timeout=PROXY_TIMEOUT_S)
        self.replayed.append(response.status_code)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ReplayingProxy

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _forward(self, body: bytes | None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            response = requests.request(
                self.command,
                self.server.upstream + self.path,
                data=body,
                headers=headers,
                timeout=PROXY_TIMEOUT_S,
            )
        except requests.RequestException:
            self.send_error(502)
            return
        if body is not None and self.path == "/api/v1/intervals" and response.status_code == 200:
            self.server.took(body, headers)
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in HOP_HEADERS:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    def log_message(self, format: str, *args: object) -> None:
        del format, args  # the agent's log says what it sent


@pytest.fixture
def proxy(fault_rig: FaultRig) -> Iterator[ReplayingProxy]:
    """scn1's agent shipping through a :class:`ReplayingProxy`; back to the service after."""
    server = ReplayingProxy(fault_rig.service.host, fault_rig.service.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    through = dataclasses.replace(fault_rig.service, port=server.port)
    fault_rig.stop_agent("scn1", signal.SIGTERM)
    try:
        dataclasses.replace(fault_rig, service=through).start_agent("scn1")
        yield server
    finally:
        fault_rig.stop_agent("scn1", signal.SIGTERM)
        fault_rig.start_agent("scn1")
        server.shutdown()
        server.server_close()


def test_batches_duplicated_and_reordered_on_the_wire_are_stored_once(
    fault_rig: FaultRig, proxy: ReplayingProxy
) -> None:
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    fault_rig.cluster.wait_for_job(job_id, timeout_s=JOB_DEADLINE_S)
    fault_rig.wait_for(lambda: fault_rig.outbox("scn1") == 0, "scn1's last batch", 30)
    proxy.flush()
    assert len(proxy.replayed) >= MIN_REPLAYED, proxy.replayed
    assert set(proxy.replayed) == {200}, proxy.replayed  # a copy is taken, not refused
    assert_goal(fault_rig.account("batches duplicated and reordered", job_id))


def reset_counter(fault_rig: FaultRig, node: str, minor: int) -> float:
    """Sets the simulated GPU's energy counter to 0; returns what it read before. Units: J."""
    with locked_state(state_path(fault_rig.sim_dir(node), minor), time.time) as state:
        before_mj = float(state["energy_mj"])
        state["energy_mj"] = 0.0
    return before_mj / 1000


def test_a_counter_reset_mid_job_loses_nothing(fault_rig: FaultRig) -> None:
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    busy = [s["minor"] for s in fault_rig.gpu_states("scn1") if s["busy_pid"] is not None]
    time.sleep(AGENT_DOWN_S)  # a few of the job's intervals counted before the reset
    taken_j = {minor: reset_counter(fault_rig, "scn1", minor) for minor in busy}
    assert min(taken_j.values()) > 0, taken_j
    fault_rig.cluster.wait_for_job(job_id, timeout_s=JOB_DEADLINE_S)
    # The workload's truth is its GPUs' counters at its end less at its start: give it
    # back what the reset took, as the energy the GPU really used.
    run = fault_rig.work / f"run-{job_id}-scn1.json"
    truth = json.loads(run.read_text())
    for gpu in truth["gpus"]:
        gpu["energy_j"] += taken_j[gpu["minor"]]
    run.write_text(json.dumps(truth))
    assert_goal(fault_rig.account("counter reset", job_id))


def stalling_path(work: Path, env: dict[str, str]) -> tuple[str, Path]:
    """A ``PATH`` whose ``sacctmgr`` writes its pid to the returned file and sleeps when
    asked to modify a job (the writer's AdminComment), and is the real one otherwise."""
    real = shutil.which("sacctmgr", path=env.get("PATH"))
    assert real is not None
    bin_dir, mark = work / "stall-bin", work / "sacctmgr.pid"
    bin_dir.mkdir(exist_ok=True)
    mark.unlink(missing_ok=True)
    script = bin_dir / "sacctmgr"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'*" modify job "*) echo $$ > {mark}; exec sleep {STALL_S} ;;\n'
        "esac\n"
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return f"{bin_dir}:{env.get('PATH', '')}", mark


def test_the_writer_killed_between_computing_and_writing_writes_once(fault_rig: FaultRig) -> None:
    cluster = fault_rig.cluster
    path, mark = stalling_path(fault_rig.work, cluster.env)
    stalled_env = {**cluster.env, "PATH": path}
    fault_rig.stop_agent("writer", signal.SIGTERM)
    dataclasses.replace(
        fault_rig, cluster=dataclasses.replace(cluster, env=stalled_env)
    ).start_writer()
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    fault_rig.wait_for(
        mark.exists, "the writer calling sacctmgr", JOB_DEADLINE_S + RESULT_DEADLINE_S
    )
    computed_j = result_gpu_j(fault_rig, job_id)
    assert computed_j is not None  # computed and stored, not yet written
    fault_rig.stop_agent("writer", signal.SIGKILL)
    os.kill(int(mark.read_text()), signal.SIGKILL)
    [row] = cluster.sacct(job_id, ("JobID", "AdminComment"))
    assert LIVE in row["AdminComment"], row  # only the value written while the job ran
    fault_rig.start_writer()
    assert_goal(fault_rig.account("writer killed before writing", job_id))

    def written() -> bool:
        [row] = cluster.sacct(job_id, ("JobID", "AdminComment"))
        return LIVE not in row["AdminComment"]

    fault_rig.wait_for(written, f"job {job_id}'s final AdminComment", RESULT_DEADLINE_S)
    [row] = cluster.sacct(job_id, ("JobID", "AdminComment"))
    assert row["AdminComment"].count("sc1:") == 1, row


def job_gpu(fault_rig: FaultRig, node: str) -> int:
    """The minor of a GPU the running job holds on ``node``."""
    return min(int(s["minor"]) for s in fault_rig.gpu_states(node) if s["busy_pid"] is not None)


def limit_w(fault_rig: FaultRig, node: str, minor: int) -> float:
    state = json.loads(state_path(fault_rig.sim_dir(node), minor).read_text())
    return float(state["limit_mw"]) / 1000


def set_cap(fault_rig: FaultRig, node: str, job_id: str, minor: int) -> None:
    """``agent set-cap`` as root on the node's agent socket: ``CAP_W`` on the job's GPU."""
    socket = fault_rig.work / f"agent-{node}.sock"
    subprocess.run(
        [SLURM_CARBON, "agent", "set-cap", "--socket", str(socket), "--job", job_id]
        + ["--gpu", str(minor), "--watts", str(CAP_W)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    fault_rig.wait_for(
        lambda: limit_w(fault_rig, node, minor) == CAP_W, f"{node} GPU {minor} capped", 15
    )


def test_an_agent_killed_while_a_cap_is_lowered_restores_it(fault_rig: FaultRig) -> None:
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    minor = job_gpu(fault_rig, "scn1")
    set_cap(fault_rig, "scn1", job_id, minor)
    fault_rig.stop_agent("scn1", signal.SIGKILL)
    time.sleep(AGENT_DOWN_S)
    assert limit_w(fault_rig, "scn1", minor) == CAP_W  # nobody but the agent restores
    fault_rig.start_agent("scn1")
    fault_rig.wait_for(
        lambda: fault_rig.caps_changed() == 0, "every GPU at its original limit", AGENT_SWEEP_S
    )
    assert_goal(fault_rig.account("agent killed while capped", job_id))


def test_the_service_gone_while_a_cap_is_lowered_leaves_no_cap(fault_rig: FaultRig) -> None:
    job_id = fault_rig.submit()
    fault_rig.wait_running(job_id)
    minor = job_gpu(fault_rig, "scn2")
    set_cap(fault_rig, "scn2", job_id, minor)
    fault_rig.service.stop()
    try:
        fault_rig.cluster.wait_for_job(job_id, timeout_s=JOB_DEADLINE_S)
        fault_rig.wait_for(
            lambda: fault_rig.caps_changed() == 0, "every GPU at its original limit", AGENT_SWEEP_S
        )
    finally:
        fault_rig.service.start()
    assert_goal(fault_rig.account("service gone while capped", job_id))
