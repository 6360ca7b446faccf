"""The overview's charts over time: CO2e and kWh per day by partition, account and user."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from slurm_carbon.service.web.overview import DAYS_SHOWN, GROUPS_CHARTED, day_series
from tests.unit.cli.test_report_data import DAY
from tests.unit.service.test_api_auth import GOOD, ROOT
from tests.unit.service.test_web import client, login, unmunge

__all__ = ["client", "unmunge"]  # fixtures, shared


def group(key: str | None, co2e_g: float, facility_kwh: float) -> dict[str, Any]:
    return {"key": key, "co2e_g": co2e_g, "facility_kwh": facility_kwh}


def test_the_biggest_groups_are_charted_and_the_rest_summed_as_other() -> None:
    # Seven users over two days; u6 and u0 emit least over both days together.
    first = [group(f"u{i}", 10.0 * i, float(i)) for i in range(7)]
    second = [group("u0", 1.0, 0.5), group("u6", 1000.0, 3.0)]
    series = day_series([first, second])
    assert GROUPS_CHARTED == 5
    assert [s["key"] for s in series] == ["u6", "u5", "u4", "u3", "u2", None]
    assert series[0]["co2e_g"] == [60.0, 1000.0]
    assert series[0]["facility_kwh"] == [6.0, 3.0]
    assert series[1]["co2e_g"] == [50.0, 0.0]  # u5 ended nothing the second day
    other = series[-1]
    assert other["label"] == "other (2 more)"
    assert other["co2e_g"] == [10.0, 1.0]  # u1 and u0
    assert other["facility_kwh"] == [1.0, 0.5]


def test_few_groups_have_no_other() -> None:
    series = day_series([[group("gpu", 5.0, 1.0), group(None, 2.0, 0.5)]])
    assert [(s["key"], s["label"]) for s in series] == [("gpu", "gpu"), (None, "(none)")]


def embedded(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.mark.parametrize("by", ["partition", "account", "user"])
def test_a_groups_figures_per_day_are_the_apis(client: TestClient, by: str) -> None:
    login(client, ROOT)
    over_time = embedded(client.get("/web/").text)["over_time"]
    days = over_time["days"]
    assert len(days) == DAYS_SHOWN
    assert days[-1] == DAY.date().isoformat()  # today, in the tests' clock
    window = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()}
    api = client.get(
        "/api/v1/totals",
        params={"group": by, **window},
        headers={"Authorization": f"MUNGE {GOOD[ROOT]}"},
    ).json()
    assert len(api["groups"]) >= 2  # the test data has two of each
    for found in api["groups"]:
        series = next(s for s in over_time["by"][by] if s["key"] == found["key"])
        assert series["co2e_g"][-1] == found["co2e_g"] > 0
        assert series["facility_kwh"][-1] == found["facility_kwh"]
        assert series["co2e_g"][:-1] == [0.0] * (DAYS_SHOWN - 1)  # nothing ended before
