"""The read API against the local cluster's real munged: credentials made by ``munge -n``.

The service's decoder asks the cluster's munged (its own socket). root is an
admin; ``nobody`` (uid 65534, its credential made with ``setpriv``) sees only
its own job. munged itself refuses a replayed, an expired and a forged
credential; a node token never reads.
"""

from __future__ import annotations

import subprocess
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from slurm_carbon.cli.supervisor import free_port, start_child, stop_child, wait_healthy
from slurm_carbon.service import create_app
from slurm_carbon.service.api import MungeDecoder, ReadAccess
from slurm_carbon.store import (
    get_or_create_cluster,
    issue_token,
    make_engine,
    session_factory,
    transaction,
    upgrade,
    upsert_job,
)
from tests.integration.conftest import SlurmCluster
from tests.unit.cli.test_report_data import DAY, NOW, TOTAL_CO2E_G, seed

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.integration

NOBODY_UID = 65534
# munge -t: the shortest time to live munged grants, and how long to wait past it.
SHORT_TTL_S, PAST_TTL_S = 1, 2.5


def munge_socket(cluster: SlurmCluster) -> Path:
    return cluster.state_dir / "run" / "munge.socket"


def credential(cluster: SlurmCluster, *, uid: int | None = None, ttl_s: int | None = None) -> str:
    """A credential from the cluster's munged, made by root or (``uid``) by that user."""
    argv = ["munge", "--no-input", f"--socket={munge_socket(cluster)}"]
    if ttl_s is not None:
        argv.append(f"--ttl={ttl_s}")
    if uid is not None:
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


@pytest.fixture
def client(slurm_cluster: SlurmCluster, tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        seed(session)
        cluster = get_or_create_cluster(session, "tc")
        end = DAY + timedelta(hours=9)
        upsert_job(
            session, cluster.id, 400, user_name="nobody", account="x", partition="gpu",
            start_time=end - timedelta(hours=1), end_time=end, state="COMPLETED",
        )  # fmt: skip
    access = ReadAccess(decoder=MungeDecoder(socket=munge_socket(slurm_cluster)))
    try:
        with TestClient(create_app(factory, clock=lambda: NOW, read_access=access)) as test_client:
            yield test_client
    finally:
        engine.dispose()


def get(client: TestClient, cred: str, **params: Any) -> Any:
    return client.get("/api/v1/jobs", headers={"Authorization": f"MUNGE {cred}"}, params=params)


def test_a_user_sees_their_own_jobs_and_is_refused_others(
    client: TestClient, slurm_cluster: SlurmCluster
) -> None:
    mine = get(client, credential(slurm_cluster, uid=NOBODY_UID))
    assert mine.status_code == 200, mine.text
    assert [item["job_id"] for item in mine.json()["jobs"]] == ["400"]
    theirs = get(client, credential(slurm_cluster, uid=NOBODY_UID), users="alice")
    assert theirs.status_code == 403
    assert theirs.json() == {"error": "nobody may only see their own jobs, not those of alice"}


def test_root_is_an_admin(client: TestClient, slurm_cluster: SlurmCluster) -> None:
    response = get(client, credential(slurm_cluster))
    assert response.status_code == 200, response.text
    assert len(response.json()["jobs"]) == 8  # the 7 seeded jobs and nobody's


def test_munged_refuses_a_replayed_credential(
    client: TestClient, slurm_cluster: SlurmCluster
) -> None:
    cred = credential(slurm_cluster, uid=NOBODY_UID)
    assert get(client, cred).status_code == 200
    again = get(client, cred)
    assert again.status_code == 401
    assert again.json() == {
        "error": "the MUNGE credential was already used: make a new one for each request"
    }


def test_munged_refuses_an_expired_credential(
    client: TestClient, slurm_cluster: SlurmCluster
) -> None:
    cred = credential(slurm_cluster, ttl_s=SHORT_TTL_S)
    time.sleep(PAST_TTL_S)
    response = get(client, cred)
    assert response.status_code == 401
    assert response.json() == {
        "error": "the MUNGE credential has expired: make a new one with `munge -n`"
    }


def test_munged_refuses_a_forged_credential(
    client: TestClient, slurm_cluster: SlurmCluster
) -> None:
    cred = credential(slurm_cluster)
    # One base64 character changed in the middle: the MAC no longer matches.
    middle = len(cred) // 2
    forged = cred[:middle] + ("A" if cred[middle] != "A" else "B") + cred[middle + 1 :]
    response = get(client, forged)
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert "not valid here" in response.json()["error"]


def test_a_node_token_cannot_read(client: TestClient, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    try:
        with transaction(session_factory(engine)) as session:
            token = issue_token(session, "tc", "gpu01")
    finally:
        engine.dispose()
    response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "jobs" not in response.json()


def test_the_service_process_reads_its_munged_from_the_site_config(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    """``slurm-carbon service --config`` with ``[api] munge_socket``: the wiring, end to end."""
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            seed(session)
    finally:
        engine.dispose()
    config = tmp_path / "site.toml"
    config.write_text(
        'cluster = "tc"\n[regions]\ndefault = "FR"\n[pue]\ndefault = 1.5\n'
        f'[admins]\nusers = []\n[api]\nmunge_socket = "{munge_socket(slurm_cluster)}"\n'
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    service = start_child(
        tmp_path / "service.log",
        *("service", "--url", url, "--port", str(port), "--config", str(config)),
    )
    try:
        wait_healthy(base, service, poll_s=0.1)
        cred = credential(slurm_cluster)  # root: an admin
        answer = requests.get(
            f"{base}/api/v1/totals", headers={"Authorization": f"MUNGE {cred}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["totals"]["co2e_g"] == pytest.approx(TOTAL_CO2E_G)
        again = requests.get(
            f"{base}/api/v1/totals", headers={"Authorization": f"MUNGE {cred}"}, timeout=10
        )
        assert again.status_code == 401
    finally:
        stop_child(service)
