"""The service over a database that does not answer: 503s the agent can retry, no tracebacks."""

from __future__ import annotations

import logging
import socket

import pytest
from starlette.testclient import TestClient

from slurm_carbon.errors import StoreError
from slurm_carbon.service import create_app
from slurm_carbon.service.schemas import error_path


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def client() -> TestClient:
    url = f"postgresql+psycopg://carbon:s3cret@127.0.0.1:{_closed_port()}/slurm_carbon"
    return TestClient(create_app(url))


def test_healthz_is_503_when_the_database_is_down(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with client, caplog.at_level(logging.WARNING, logger="slurm_carbon.service"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "error": "database unavailable"}
    assert "connection refused" in caplog.text
    assert "s3cret" not in caplog.text


def test_ingest_is_503_when_the_database_is_down(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with client, caplog.at_level(logging.WARNING, logger="slurm_carbon.service"):
        response = client.post(
            "/api/v1/intervals",
            json={"cluster": "sclocal", "node": "vm", "intervals": []},
            headers={"Authorization": "Bearer some-token"},
        )

    assert response.status_code == 503
    assert response.json() == {"error": "database unavailable, retry later"}
    assert "database unavailable on POST /api/v1/intervals: cannot reach database" in caplog.text


def test_a_bad_url_is_refused_when_the_app_is_built() -> None:
    with pytest.raises(StoreError, match="invalid database URL"):
        create_app("not a url")


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("intervals", 3, "energy_j"), "intervals[3].energy_j"),
        (("intervals", 0, "device", "uuid"), "intervals[0].device.uuid"),
        (("cluster",), "cluster"),
        (("intervals",), "intervals"),
        ((), "body"),
    ],
)
def test_error_paths_read_like_the_body(loc: tuple[int | str, ...], path: str) -> None:
    assert error_path(loc) == path
