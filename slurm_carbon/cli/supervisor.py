"""``slurm-carbon`` child processes: start one, wait until the service answers, stop it.

The demo runs the service, a node agent and the writer as children of
``slurm-carbon demo``; the integration tests run the same commands the same
way. A child logs stdout and stderr to a file, and is stopped with SIGTERM
(SIGKILL when it has not exited after a timeout), always waited for.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from slurm_carbon.errors import SlurmCarbonError

__all__ = [
    "SLURM_CARBON",
    "ChildFailed",
    "child",
    "free_port",
    "start_child",
    "stop_child",
    "wait_healthy",
]

SLURM_CARBON = (sys.executable, "-m", "slurm_carbon")
"""The command that runs ``slurm-carbon`` with this interpreter."""


class ChildFailed(SlurmCarbonError):
    """A child exited when it should run, or the service did not become healthy in time."""


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_child(
    log: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``slurm-carbon <args>``, its output appended to ``log``, stdin from /dev/null.

    Args:
        log: The file its stdout and stderr go to.
        *args: The command and its options.
        env: Its environment (None: this process's).
    """
    with log.open("ab") as output:
        return subprocess.Popen(
            [*SLURM_CARBON, *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )


def stop_child(
    process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15
) -> None:
    """End ``process`` with ``sig`` (SIGKILL after ``timeout_s``) and wait for it.

    A process that has already exited is only reaped.
    """
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def child(
    log: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    settle_s: float = 0.5,
    stop_timeout_s: float = 15,
) -> Iterator[subprocess.Popen[bytes]]:
    """``slurm-carbon <args>`` running while the block runs; stopped after it.

    Args:
        log: The file its output goes to.
        *args: The command and its options.
        env: Its environment (None: this process's).
        settle_s: How long it must live before the block starts. Units: seconds.
        stop_timeout_s: SIGKILL after this long past SIGTERM. Units: seconds.

    Raises:
        ChildFailed: It exited within ``settle_s``.
    """
    process = start_child(log, *args, env=env)
    try:
        time.sleep(settle_s)
        if process.poll() is not None:
            raise ChildFailed(f"slurm-carbon {args[0]} exited at once; see {log}")
        yield process
    finally:
        stop_child(process, timeout_s=stop_timeout_s)


def wait_healthy(
    base_url: str,
    process: subprocess.Popen[bytes] | None = None,
    *,
    timeout_s: float = 30,
    poll_s: float = 0.2,
) -> None:
    """Wait until ``<base_url>/healthz`` answers 200.

    Args:
        base_url: The service's URL, e.g. ``http://127.0.0.1:8350``.
        process: The service's process, if it is ours: its exit ends the wait.
        timeout_s: The deadline. Units: seconds.
        poll_s: The pause between two tries. Units: seconds.

    Raises:
        ChildFailed: ``process`` exited, or no 200 before the deadline.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChildFailed(f"the service at {base_url} exited {process.returncode}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(poll_s)
    raise ChildFailed(f"the service at {base_url} did not become healthy in {timeout_s:g} s")
