"""``agent set-cap`` over the agent's socket: the kernel names the requester, the agent decides."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from slurm_carbon.agent import Agent
from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.fake import FakeGpuBackend
from tests.unit.agent.conftest import hand_off

MakeAgent = Callable[..., Agent]
T = TypeVar("T")
NOBODY = 65534
# The test's Python may sit where nobody cannot reach it (e.g. under /root): the
# system's, with a stdlib-only client, asks as nobody.
SYSTEM_PYTHON = "/usr/bin/python3"
CLIENT = """import socket, sys
with socket.socket(socket.AF_UNIX) as s:
    s.connect(sys.argv[1])
    s.sendall(sys.argv[2].encode())
    s.shutdown(socket.SHUT_WR)
    print(s.recv(1024).decode().strip())
"""


@pytest.fixture
def ticking(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> Iterator[tuple[Agent, FakeGpuBackend, Path]]:
    """An agent with 2 GPUs listening on a socket nobody can reach; job 1 (GPU 0) is
    root's, job 2 (GPU 1) is nobody's."""
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(2, limit_mw=250_000)
    public = Path(tempfile.mkdtemp(prefix="sc-sock-"))
    public.chmod(0o755)
    sock = public / "agent.sock"
    agent = make_agent(gpu_backend=backend, cap_socket=sock)
    hand_off(spool, 1, "start", 0.0, gpus="0", uid=0)
    hand_off(spool, 2, "start", 0.0, gpus="1", uid=NOBODY)
    agent.start()
    try:
        yield agent, backend, sock
    finally:
        agent.shutdown(100.0)
        shutil.rmtree(public)


def while_ticking(agent: Agent, client: Callable[[], T]) -> T:
    """Run ``client`` on a thread while this thread ticks the agent (it owns agent.db)."""
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(client()))
    thread.start()
    t = 1.0
    while thread.is_alive():
        agent.tick(t)
        t += 0.02
        thread.join(0.02)
    return result[0]


def set_cap(sock: Path, job: int, gpu: str) -> tuple[int, str]:
    """Run ``slurm-carbon agent set-cap`` (as root)."""
    done = subprocess.run(
        [sys.executable, "-c", "from slurm_carbon.cli.main import main; main()"]
        + ["agent", "set-cap", "--socket", str(sock), "--job", str(job)]
        + ["--gpu", gpu, "--watts", "150"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def ask_as_nobody(sock: Path, job: int, gpu: str) -> str:
    """Send a request from a process running as nobody; return the agent's answer."""
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"{SYSTEM_PYTHON} is needed to ask as nobody")
    request = f"JOB_ID={job}\nGPU={gpu}\nWATTS=150\n"
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", CLIENT, str(sock), request],
        capture_output=True,
        text=True,
        timeout=30,
        user=NOBODY,
        cwd="/",
        check=True,
    )
    return done.stdout.strip()


def test_the_socket_is_open_to_all_and_the_agent_checks_who_asks(
    ticking: tuple[Agent, FakeGpuBackend, Path],
) -> None:
    agent, backend, sock = ticking
    assert sock.stat().st_mode & 0o777 == 0o666

    def ask(job: int, gpu: str) -> str:
        return while_ticking(agent, lambda: ask_as_nobody(sock, job, gpu))

    assert ask(1, "0") == f"refused: uid {NOBODY} may not cap job 1: only root and its owner may"
    assert backend.gpu_by_minor(0).power_limit_mw() == 250_000
    # its own job, but another job's GPU
    assert ask(2, "0").startswith("refused: GPU GPU-fake-000000000000 is not job 2's alone")
    assert ask(2, "1") == "ok: GPU GPU-fake-000000000001 capped at 150 W"
    assert ask(2, "x" * 600).startswith("refused: request larger than 512 bytes")
    assert while_ticking(agent, lambda: set_cap(sock, 1, "0")) == (
        0,
        "job 1, GPU 0: ok: GPU GPU-fake-000000000000 capped at 150 W",
    )
    assert while_ticking(agent, lambda: set_cap(sock, 3, "0")) == (
        1,
        "Error: job 3, GPU 0: refused: job 3 does not run on this node",
    )
    assert [backend.gpu_by_minor(m).power_limit_mw() for m in (0, 1)] == [150_000, 150_000]


def test_set_cap_without_an_agent_is_one_line_and_exit_1(tmp_path: Path) -> None:
    status, output = set_cap(tmp_path / "none.sock", 1, "0")

    assert status == 1
    assert output.startswith(f"Error: cannot reach the agent at {tmp_path / 'none.sock'}: ")
    assert len(output.splitlines()) == 1


def test_a_file_in_the_sockets_place_is_refused_at_start(
    make_agent: MakeAgent, tmp_path: Path
) -> None:
    (tmp_path / "agent.sock").write_text("not a socket")
    agent = make_agent(cap_socket=tmp_path / "agent.sock")

    with pytest.raises(ConfigError, match="another kind of file is there"):
        agent.start()
    assert (tmp_path / "agent.sock").read_text() == "not a socket"


def test_a_second_agent_does_not_take_a_running_agents_socket(
    ticking: tuple[Agent, FakeGpuBackend, Path], make_agent: MakeAgent
) -> None:
    _, _, sock = ticking
    second = make_agent(cap_socket=sock)

    with pytest.raises(ConfigError, match="another agent listens on it"):
        second.start()
    assert sock.exists()
