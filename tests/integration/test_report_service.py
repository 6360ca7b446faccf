"""``slurm-carbon report`` through a real service and the local cluster's munged, as two users.

The service (``slurm-carbon service --config``, on a free loopback port) decodes
credentials with the cluster's munged; the report reads the same site TOML
(``[api] url`` and ``munge_socket``). root, an admin, prints what the database
mode prints; ``nobody`` (uid 65534, run with ``setpriv``) sees only their own
job and is refused, in one line, anyone else's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from slurm_carbon.cli.supervisor import (
    SLURM_CARBON,
    free_port,
    start_child,
    stop_child,
    wait_healthy,
)
from slurm_carbon.store import (
    get_or_create_cluster,
    make_engine,
    session_factory,
    transaction,
    upgrade,
    upsert_job,
)
from tests.integration.conftest import SlurmCluster
from tests.integration.test_api_munge import NOBODY_UID, munge_socket
from tests.unit.cli.test_report_data import DAY, seed

pytestmark = pytest.mark.integration

# Seconds one report may take: a few requests, each with munge -n and unmunge.
REPORT_DEADLINE_S = 60
EVERYTHING = ["-S", "2024-01-01"]


@dataclass(frozen=True)
class World:
    """The database, the site TOML naming the service, and the service's address."""

    url: str
    config: Path
    base: str


def nobody_can_run_slurm_carbon() -> None:
    """Skip, naming the path, when this clone is where ``nobody`` may not enter.

    A clone under ``/root`` (mode 700) runs every other test; ``nobody`` cannot
    import its package, so the client would fail before it asked the service.
    """
    probe = subprocess.run(
        ["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_UID}", "--clear-groups",
         *SLURM_CARBON, "--version"],
        capture_output=True, text=True, timeout=REPORT_DEADLINE_S, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(
            f"nobody (uid {NOBODY_UID}) cannot run {sys.executable} -m slurm_carbon from this "
            f"clone ({Path(__file__).resolve().parents[2]}): clone it where others may enter"
        )


@pytest.fixture
def world(slurm_cluster: SlurmCluster, tmp_path: Path) -> Iterator[World]:
    # nobody must read the site TOML: a directory of its own that others may enter.
    shared = Path(tempfile.mkdtemp(prefix="report_service_"))
    shared.chmod(0o755)
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            seed(session)
            cluster = get_or_create_cluster(session, "tc")
            end = DAY + timedelta(hours=9)
            upsert_job(
                session, cluster.id, 400, user_name="nobody", account="x", partition="gpu",
                start_time=end - timedelta(hours=1), end_time=end, state="COMPLETED",
            )  # fmt: skip
    finally:
        engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = shared / "site.toml"
    config.write_text(
        'cluster = "tc"\n[regions]\ndefault = "FR"\n[pue]\ndefault = 1.5\n'
        f'[admins]\nusers = []\n[api]\nmunge_socket = "{munge_socket(slurm_cluster)}"\n'
        f'url = "{base}"\n'
    )
    config.chmod(0o644)
    service = start_child(
        tmp_path / "service.log",
        *("service", "--url", url, "--port", str(port), "--config", str(config)),
    )
    try:
        wait_healthy(base, service, poll_s=0.1)
        yield World(url, config, base)
    finally:
        stop_child(service)
        config.unlink()
        shared.rmdir()


def report(world: World, *args: str, uid: int | None = None) -> subprocess.CompletedProcess[str]:
    argv = [*SLURM_CARBON, "report", "--config", str(world.config), *args]
    if uid is not None:
        nobody_can_run_slurm_carbon()
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=REPORT_DEADLINE_S, check=False
    )


@pytest.mark.parametrize("args", [["-P", *EVERYTHING], ["-j", "100"]])
def test_root_through_the_service_prints_what_the_database_mode_prints(
    world: World, args: list[str]
) -> None:
    served = report(world, *args)  # [api] url names the service
    assert served.returncode == 0, served.stderr
    # The same site without [api] url: the database mode.
    plain = world.config.with_name("plain.toml")
    plain.write_text(world.config.read_text().replace(f'url = "{world.base}"\n', ""))
    try:
        argv = [*SLURM_CARBON, "report", "--config", str(plain), "--url", world.url]
        database = subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            timeout=REPORT_DEADLINE_S,
            check=True,
        )
    finally:
        plain.unlink()
    assert served.stdout == database.stdout
    if args[0] == "-P":
        assert len(served.stdout.splitlines()) == 9  # header, 7 seeded jobs, nobody's 400
    else:  # job 100 in detail: its result, its intervals over time, its energy card
        assert served.stdout.startswith("Job 100 (job)\n")
        assert "Energy over time" in served.stdout
        assert "| Emissions |" in served.stdout


def test_an_unprivileged_user_sees_only_their_own_jobs(world: World) -> None:
    mine = report(world, "-P", "-n", *EVERYTHING, uid=NOBODY_UID)
    assert mine.returncode == 0, mine.stderr
    assert [line.split("|")[0] for line in mine.stdout.splitlines()] == ["400"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-u", "root"], "nobody may only see their own jobs, not those of root"),
        (["-j", "100"], "nobody may only see their own jobs"),
    ],
)
def test_an_unprivileged_user_is_refused_someone_elses_jobs(
    world: World, args: list[str], words: str
) -> None:
    refused = report(world, *args, uid=NOBODY_UID)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith("Error: the service refused (403): "), refused.stderr
    assert words in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
