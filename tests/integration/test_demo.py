"""``./scripts/demo`` as a user runs it; then its dashboard's ``/metrics`` against the report.

Issue 13's "done when": ``curl localhost:PORT/metrics`` after the demo shows non-zero
energy and emissions counters equal to the report's totals. The demo shares the
session's cluster: its ``deploy/local/cluster start`` finds the single node up and
starts nothing, its agent and writer are stopped when it ends, and it writes only
under the clone's ``demo/`` state directory (its own database, token and spool
copies), where the session's tests keep nothing. Run under the servers' lock.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from slurm_carbon.cli.supervisor import SLURM_CARBON, free_port
from slurm_carbon.service.web.session import SESSION_COOKIE

if TYPE_CHECKING:  # the fixture's type; test modules import nothing from conftest at run time
    from tests.integration.conftest import SlurmCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# The demo waits up to 300 s for its jobs (its --timeout), twice over at worst, after
# setup and the cluster's start; it takes ~2-3 min on this 2-core machine.
DEMO_TIMEOUT_S = 900
# A request to the dashboard on loopback; it answers in well under a second.
HTTP_TIMEOUT_S = 10
# Both sides sum the same float64 results (the report in kWh, the metrics in joules), in
# other orders: they differ by a few ulps. One job missing or counted twice is >1 %.
REL_TOL = 1e-9
# The watcher the demo leaves beside the dashboard polls every 2 s (scripts/demo).
WATCHER_GONE_S = 10
# The dashboard stops on SIGTERM within a few seconds (uvicorn's graceful shutdown).
DASHBOARD_STOP_S = 30
JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Demo:
    """What one run of ``./scripts/demo`` printed and left."""

    stdout: str
    demo_dir: Path
    url: str  # the dashboard's base URL


def _demo_dir() -> Path:
    """Where scripts/demo works: ``local_state_dir`` of this clone (deploy/local/state.sh)/demo."""
    script = 'source deploy/local/state.sh && local_state_dir "$PWD"'
    found = subprocess.run(
        ["bash", "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    return Path(found.stdout.strip()) / "demo"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _watchers_of(dashboard_pid: int) -> list[int]:
    """Pids of the demo's watcher processes (``bash -c ... watcher MUNGED DASHBOARD``) of it."""
    return [
        int(proc.name)
        for proc in Path("/proc").iterdir()
        if proc.name.isdigit()
        and (argv := _cmdline(int(proc.name)))[-3:-2] == ["watcher"]
        and argv[-1] == str(dashboard_pid)
    ]


def _stop_dashboard(pid_file: Path) -> None:
    """Stops the dashboard of ``pid_file`` if it still runs (only if that pid is ours)."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    if not any(word.endswith("slurm-carbon") for word in _cmdline(pid)):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DASHBOARD_STOP_S
    while _cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _cmdline(pid), f"the dashboard {pid} still runs {DASHBOARD_STOP_S} s after SIGTERM"


@pytest.fixture(scope="module")
def demo(slurm_cluster: SlurmCluster) -> Iterator[Demo]:
    """Runs ``./scripts/demo`` from the repository root on a free port; stops its dashboard."""
    del slurm_cluster  # the session's cluster is up: the demo's start must find it so
    port = free_port()
    demo_dir = _demo_dir()
    env = {**os.environ, "SLURM_CARBON_DEMO_PORT": str(port)}
    process = subprocess.Popen(
        ["./scripts/demo"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that a timeout ends the demo and its children
    )
    try:
        try:
            stdout, stderr = process.communicate(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            stdout, stderr = process.communicate()
            pytest.fail(f"./scripts/demo: not done after {DEMO_TIMEOUT_S} s\n{stdout}\n{stderr}")
        assert process.returncode == 0, f"./scripts/demo exited {process.returncode}:\n{stderr}"
        yield Demo(stdout=stdout, demo_dir=demo_dir, url=f"http://127.0.0.1:{port}")
    finally:
        _stop_dashboard(demo_dir / "dashboard.pid")


def _counter_sums(text: str, name: str) -> tuple[float, dict[str, float]]:
    """The samples of counter ``name`` summed over every label set, and per partition."""
    total = 0.0
    by_partition: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_total":
                total += sample.value
                by_partition[sample.labels["partition"]] += sample.value
    return total, dict(by_partition)


def _report(demo: Demo) -> dict[str, Any]:
    """``slurm-carbon report --json --by partition`` over every job in the demo's database."""
    shown = subprocess.run(
        [
            *SLURM_CARBON,
            *("report", "--url", f"sqlite:///{demo.demo_dir}/demo.db"),
            *("-S", "1970-01-01T00:00:00", "--by", "partition", "--json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(shown.stdout)
    return parsed


def _device_j(figures: Mapping[str, Any]) -> float:
    kinds = ("gpu_kwh", "cpu_kwh", "dram_kwh", "other_kwh")
    return float(sum(figures[kind] for kind in kinds)) * JOULES_PER_KWH


def test_the_demo_ends_with_the_dashboard_and_a_login_link(demo: Demo) -> None:
    last = demo.stdout.rstrip().splitlines()[-4:]
    assert last[0] == f'Dashboard: {demo.url}/web/ (README, "Dashboard")'
    link = re.fullmatch(
        rf"Log in as \S+, once, within 5 minutes: ({re.escape(demo.url)}/web/login\?token=\S+)",
        last[1],
    )
    assert link, last
    assert last[-1] == "The dashboard keeps running until: deploy/local/cluster stop"
    login = requests.get(link[1], allow_redirects=False, timeout=HTTP_TIMEOUT_S)
    assert login.status_code == 303, login.text
    assert login.headers["location"] == "/web/"
    session = login.cookies.get(SESSION_COOKIE)
    assert session
    overview = requests.get(
        f"{demo.url}/web/", cookies={SESSION_COOKIE: session}, timeout=HTTP_TIMEOUT_S
    )
    assert overview.status_code == 200
    assert "text/html" in overview.headers["content-type"]


def test_the_metrics_after_the_demo_equal_the_report(demo: Demo) -> None:
    scraped = requests.get(f"{demo.url}/metrics", timeout=HTTP_TIMEOUT_S)
    assert scraped.status_code == 200
    energy_j, energy_by_partition = _counter_sums(scraped.text, "slurm_carbon_energy_joules")
    co2e_g, co2e_by_partition = _counter_sums(scraped.text, "slurm_carbon_emissions_grams")
    assert energy_j > 0
    assert co2e_g > 0

    report = _report(demo)
    totals, groups = report["totals"], report["groups"]
    assert math.isclose(energy_j, _device_j(totals), rel_tol=REL_TOL)
    assert math.isclose(co2e_g, totals["co2e_g"], rel_tol=REL_TOL)
    assert set(energy_by_partition) == {group["key"] for group in groups}
    for group in groups:
        partition = group["key"]
        assert math.isclose(energy_by_partition[partition], _device_j(group), rel_tol=REL_TOL)
        assert math.isclose(co2e_by_partition[partition], group["co2e_g"], rel_tol=REL_TOL)


def test_stopping_the_dashboard_ends_its_watcher(demo: Demo) -> None:
    pid = int((demo.demo_dir / "dashboard.pid").read_text())
    assert _watchers_of(pid), "the demo left no watcher beside its dashboard"
    _stop_dashboard(demo.demo_dir / "dashboard.pid")
    deadline = time.monotonic() + WATCHER_GONE_S
    while _watchers_of(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _watchers_of(pid), f"the watcher still runs {WATCHER_GONE_S} s after the dashboard"
