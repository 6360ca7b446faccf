"""``slurm-carbon evaluate forecast --stored``: stored forecasts scored per source and horizon."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.store import make_engine, session_factory, transaction, upgrade
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal

T0 = datetime(2026, 11, 20, tzinfo=UTC)
H = timedelta(hours=1)
OURS = "slurm_carbon:blend"


def _actual_value(hour: int) -> float:
    return 0.0 if hour == 7 else 100.0 + 10 * (hour % 5)  # hour 7: a zero actual


def _stored_db(url: str) -> None:
    """Three days of hourly actuals; two issues of a provider's forecast, one of ours.

    The provider's point ``h`` hours ahead errs by ``h`` percent; ours by ``h / 2``.
    """
    upgrade(url)

    def point(source: str, hour: int, value: float, kind: CiKind, issued: int) -> CiPoint:
        return CiPoint(
            "GB", T0 + hour * H, 3600, value, source, kind, CiSignal.AVERAGE, T0 + issued * H
        )

    points = [point("uk", h, _actual_value(h), CiKind.ACTUAL, h) for h in range(72)]
    for source, issued, slope in (("uk", 0, 0.01), ("uk", 1, 0.01), (OURS, 0, -0.005)):
        points += [
            point(source, issued + ahead, _actual_value(issued + ahead) * (1 + slope * ahead),
                  CiKind.FORECAST, issued)
            for ahead in range(1, 25)
        ]  # fmt: skip
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        add_ci_points(session, points)
    engine.dispose()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["evaluate", "forecast", *args])
    return result.exit_code, result.stdout, result.stderr


def test_each_source_is_scored_at_the_horizons_its_points_are_nearest(
    empty_db: Callable[[str], str],
) -> None:
    url = empty_db("stored_forecasts")
    _stored_db(url)

    code, out, err = run("--stored", "--region", "GB", "--url", url, "--json")

    assert code == 0, err
    document = json.loads(out)
    assert document["default"] == OURS
    assert document["methods"] == {
        OURS: {"1h": pytest.approx(0.5), "6h": pytest.approx(3.0), "24h": pytest.approx(12.0)},
        "uk": {"1h": pytest.approx(1.0), "6h": pytest.approx(6.0), "24h": pytest.approx(24.0)},
    }
    # the provider's second issue targets hour 7 at 6 h ahead: its actual is zero, left out
    assert document["points"] == {
        OURS: {"1h": 1, "6h": 1, "24h": 1},
        "uk": {"1h": 2, "6h": 1, "24h": 2},
    }


def test_a_horizon_without_points_is_null_and_the_table_shows_a_dash(
    empty_db: Callable[[str], str],
) -> None:
    url = empty_db("stored_table")
    _stored_db(url)

    code, out, err = run("--stored", "--region", "GB", "--url", url, "--horizons", "1h,48h")
    _, as_json, _ = run(
        "--stored", "--region", "GB", "--url", url, "--horizons", "1h,48h", "--json"
    )

    assert code == 0, err
    assert json.loads(as_json)["methods"]["uk"] == {"1h": pytest.approx(1.0), "48h": None}
    assert err.strip() == "GB: against the actuals of uk"
    assert out.splitlines()[2].split() == [OURS, "0.50%", "(", "1)", "-", "(", "0)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stored",), "--stored needs --region R"),
        (
            ("--stored", "--region", "GB", "--trace", "{tmp}/t.csv"),
            "give either --trace FILE or --stored --region R, not both",
        ),
        (("--region", "GB"), "give either --trace FILE or --stored --region R, not both"),
        (("--stored", "--region", "FR"), "no stored actuals of region 'FR'"),
    ],
)
def test_bad_combinations_are_one_line(
    empty_db: Callable[[str], str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    url = empty_db("stored_bad")
    _stored_db(url)
    (tmp_path / "t.csv").write_text("time,ci_g_per_kwh\n")

    code, _out, err = run(*(a.replace("{tmp}", str(tmp_path)) for a in args), "--url", url)

    assert code == 1
    assert err.startswith(f"Error: {message}")
    assert len(err.strip().splitlines()) == 1
