"""The local PostgreSQL server of a clone that other users cannot reach (under /root, say).

As root the server runs as the ``postgres`` user: its state must live where that user
can reach it, not in the clone (deploy/local/state.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from slurm_carbon.store import make_engine

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user"),
]

DEPLOY_LOCAL = Path(__file__).resolve().parents[2] / "deploy" / "local"


def _postgres(
    clone: Path, command: str, *, under_lock: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CARBON_LOCAL"}
    prefix = [] if under_lock is None else ["flock", str(under_lock)]
    return subprocess.run(
        [*prefix, str(clone / "deploy/local/postgres"), command],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )


def test_postgres_starts_from_a_clone_under_a_0700_directory(tmp_path: Path) -> None:
    home = tmp_path / "root-like-home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    clone = home / "slurm_carbon"
    shutil.copytree(DEPLOY_LOCAL, clone / "deploy" / "local")
    lock = tmp_path / "servers.lock"  # as tests take /tmp/slurm_carbon-servers.lock
    try:
        started = _postgres(clone, "start", under_lock=lock)
        assert started.returncode == 0, started.stderr
        # The server must not keep the caller's lock (flock(1) passes its descriptor on).
        free = subprocess.run(["flock", "-n", str(lock), "true"], check=False, timeout=10)
        assert free.returncode == 0, "the server holds the lock its caller took"
        status = _postgres(clone, "status")
        url = _postgres(clone, "url").stdout.strip()
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                data_dir = Path(connection.execute(text("SHOW data_directory")).scalar_one())
        finally:
            engine.dispose()
    finally:
        removed = _postgres(clone, "remove")

    assert status.returncode == 0, status.stdout
    assert data_dir.parts[:4] == ("/", "var", "lib", "slurm-carbon-dev")
    assert data_dir.parent.parent.name.startswith("slurm_carbon-")
    assert not (clone / ".local").exists()
    assert removed.returncode == 0, removed.stderr
    assert not data_dir.exists()
    assert _postgres(clone, "status").returncode == 3
