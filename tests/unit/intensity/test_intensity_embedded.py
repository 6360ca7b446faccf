from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slurm_carbon.codecarbon_data import codecarbon_data
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.embedded import (
    OWID_ATTRIBUTION,
    SOURCE,
    EmbeddedAnnual,
)
from slurm_carbon.vocabulary import CiKind, CiSignal

T = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _table(*parts: str) -> dict[str, object]:
    node = codecarbon_data()
    for part in parts:
        node = node / part
    data: dict[str, object] = json.loads(node.read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def annual() -> EmbeddedAnnual:
    return EmbeddedAnnual()


def test_alpha2_and_alpha3_give_the_country_figure(annual: EmbeddedAnnual) -> None:
    germany = _table("private_infra", "global_energy_mix.json")["DEU"]
    assert isinstance(germany, dict)
    for code in ("DE", "de", "DEU"):
        figure = annual.figure(code)
        assert figure.region == "DEU"
        assert figure.ci_g_per_kwh == germany["carbon_intensity"]
        assert figure.year == germany["year"]
    assert annual.figure("GB").name == "United Kingdom"
    assert annual.figure("SE").ci_g_per_kwh == pytest.approx(40.695)


def test_attribution_names_owid_and_the_data_year(annual: EmbeddedAnnual) -> None:
    figure = annual.figure("FR")
    assert figure.attribution.startswith(
        "Ember; Energy Institute - Statistical Review of World Energy \u2013 with major"
        " processing by Our World in Data (via codecarbon, MIT)"
    )
    assert figure.attribution == f"{OWID_ATTRIBUTION}; data year {figure.year}"


def test_us_states_are_converted_from_lbs_per_mwh(annual: EmbeddedAnnual) -> None:
    california = _table("private_infra", "2023", "usa_emissions.json")["california"]
    assert isinstance(california, dict)
    figure = annual.figure("US-CA")
    assert figure.ci_g_per_kwh == pytest.approx(california["emissions"] * 0.45359237)
    assert "eGRID" in figure.attribution


def test_nordic_zones_by_both_names(annual: EmbeddedAnnual) -> None:
    assert annual.figure("SE3") == annual.figure("SE-SE3")
    assert annual.figure("se3").region == "SE3"
    # "FI" stays the country, from the per-country table.
    assert annual.figure("FI").region == "FIN"


def test_unknown_region_names_it(annual: EmbeddedAnnual) -> None:
    with pytest.raises(IntensityUnavailable, match="region 'Atlantis'"):
        annual.figure("Atlantis")
    with pytest.raises(IntensityUnavailable, match="region 'XX'"):
        annual.history("XX", T, T + timedelta(hours=1))


def test_points_cover_the_request(annual: EmbeddedAnnual) -> None:
    (point,) = annual.history("DE", T, T + timedelta(hours=2, seconds=1))
    assert (point.region, point.time, point.step_s) == ("DE", T, 7201)
    assert (point.source, point.kind, point.signal) == (SOURCE, CiKind.ANNUAL, CiSignal.AVERAGE)
    assert point.ci_g_per_kwh == annual.figure("DEU").ci_g_per_kwh
    (ahead,) = annual.forecast("DE", T, 24)
    assert ahead.step_s == 86400


def test_a_data_tree_with_countries_only(tmp_path: Path) -> None:
    (tmp_path / "private_infra").mkdir()
    (tmp_path / "private_infra" / "global_energy_mix.json").write_text(
        json.dumps({"SWE": {"carbon_intensity": 41.0, "year": 2022, "country_name": "Sweden"}})
    )
    annual = EmbeddedAnnual(tmp_path)
    assert annual.regions() == ["SWE"]
    assert annual.figure("SE").ci_g_per_kwh == 41.0
    assert annual.figure("SE").attribution.endswith("data year 2022")
    with pytest.raises(IntensityUnavailable, match="US-CA"):
        annual.figure("US-CA")


def test_a_missing_table_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(IntensityUnavailable, match="cannot read codecarbon's"):
        EmbeddedAnnual(tmp_path).figure("DE")
