"""GET /metrics on the app: content negotiation, and the ingest figures of this process."""

from __future__ import annotations

from typing import Any

from tests.unit.service.test_metrics import samples_of, value_of


def test_the_app_serves_them_and_counts_ingested_batches(api: Any) -> None:
    body = api.batch()
    assert api.post(body).status_code == 200
    assert api.post(body).status_code == 200
    assert api.post(body, token="forged").status_code == 401  # noqa: S106 (not a secret)
    answer = api.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    openmetrics = api.client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    samples = samples_of(answer.text)
    intervals = "slurm_carbon_ingest_intervals_total"
    assert value_of(samples, intervals, result="stored") == 2
    assert value_of(samples, intervals, result="duplicate") == 2
    assert value_of(samples, "slurm_carbon_ingest_batch_seconds_count") == 2
    # The two intervals of the api fixture end at 15:02, 58 minutes before its clock.
    age = value_of(
        samples, "slurm_carbon_node_last_report_age_seconds", cluster="sclocal", node="vm"
    )
    assert age == 58 * 60
