"""The energy card (Markdown and JSON against a schema), equivalents."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest

from slurm_carbon.accounting import EnergySpan, energy_card, equivalents, footprint
from slurm_carbon.accounting.equivalents import CAR_G_PER_KM, SMARTPHONE_CHARGE_G
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.units import format_co2e, format_energy, round_sig
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.unit.accounting.data import SPANS, T0, point

SERIES = [point(0, 100), point(1, 300, CiKind.ANNUAL, "codecarbon-annual")]

CARD_SCHEMA = {
    "type": "object",
    "required": [
        "title",
        "accelerator",
        "period",
        "energy_kwh",
        "pue",
        "region",
        "carbon_intensity",
        "co2e_g",
        "quality",
        "equivalents",
    ],
    "properties": {
        "title": {"type": "string"},
        "accelerator": {
            "type": "object",
            "required": ["type", "count", "hours"],
            "properties": {
                "type": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "hours": {"type": "number", "minimum": 0},
            },
        },
        "period": {
            "type": "object",
            "required": ["start", "end"],
            "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
        },
        "energy_kwh": {
            "type": "object",
            "required": ["gpu", "cpu", "dram", "other", "devices", "facility"],
            "additionalProperties": {"type": "number", "minimum": 0},
        },
        "pue": {"type": "number", "minimum": 1},
        "region": {"type": "string"},
        "carbon_intensity": {
            "type": "object",
            "required": ["mean_g_per_kwh", "sources", "kinds", "signal", "estimated"],
            "properties": {
                "sources": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "kinds": {
                    "type": "object",
                    "propertyNames": {"enum": ["actual", "forecast", "annual"]},
                },
                "estimated": {"type": "boolean"},
            },
        },
        "co2e_g": {"type": "number", "minimum": 0},
        "quality": {
            "type": "object",
            "required": ["energy_methods", "summary"],
            "properties": {"summary": {"enum": ["meas", "int", "est", "none"]}},
        },
        "equivalents": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "quantity", "source", "approximate"],
                "properties": {"approximate": {"const": True}},
            },
        },
    },
}


def test_round_sig_keeps_sensible_digits() -> None:
    assert round_sig(812.4321, 4) == "812.4"
    assert round_sig(2.1345, 3) == "2.13"
    assert round_sig(381.2, 3) == "381"
    assert round_sig(123456.0, 4) == "123500"
    assert round_sig(0.000123456, 3) == "0.000123"
    assert round_sig(0.0, 3) == "0"


def test_markdown_card_shows_the_figures_and_marks_annual_estimates() -> None:
    fp = footprint(SPANS, SERIES, 1.2)
    card = energy_card(
        fp, title="resnet50", accelerator="NVIDIA A40", accelerator_count=4, region="GB"
    )

    text = card.to_markdown()

    # GPU: 0.5 kWh at 100, 0.5 at 300 (annual); CPU 0.5 at 100 -> 1.2 * 250 = 300 g
    assert fp.co2e_g == pytest.approx(300.0)
    assert "| Emissions | 300 g CO2e |" in text
    assert "NVIDIA A40 x 4" in text
    assert "| Accelerator-hours | 6.00 h |" in text  # 4 GPUs x 1.5 h
    assert "| PUE | 1.20 |" in text
    assert "1,500 Wh (GPU 1,000 Wh, CPU 500 Wh, DRAM 0 Wh, unmeasured parts 0 Wh)" in text
    assert "| Energy at the facility | 1,800 Wh |" in text
    assert "annual mean (estimate) 33 %" in text
    assert "codecarbon-annual" in text
    assert "(includes estimates)" in text
    assert "2024-03-01 10:00 - 2024-03-01 11:30 UTC" in text
    assert "Patterson et al. 2021" in text
    assert "approx" in text


def test_json_card_validates_against_the_schema() -> None:
    fp = footprint(SPANS, SERIES, 1.2)
    card = energy_card(
        fp, title="r", accelerator="A40", accelerator_count=2, region="GB", accelerator_hours=7.5
    )

    data = json.loads(json.dumps(card.to_dict()))

    jsonschema.validate(data, CARD_SCHEMA)
    assert data["accelerator"] == {"type": "A40", "count": 2, "hours": 7.5}
    assert data["co2e_g"] == pytest.approx(300.0)
    assert data["carbon_intensity"]["estimated"] is True
    assert data["carbon_intensity"]["kinds"] == pytest.approx({"actual": 2 / 3, "annual": 1 / 3})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "pue": 0.8}, CARD_SCHEMA)


def test_equivalents_use_the_cited_factors() -> None:
    car, phone = equivalents(1098.0)

    assert car.quantity == pytest.approx(10.0)
    assert phone.quantity == pytest.approx(1098.0 / 8.22)
    assert (CAR_G_PER_KM, SMARTPHONE_CHARGE_G) == (109.8, 8.22)
    assert car.approximate
    assert phone.approximate
    assert "EEA 2022" in car.source
    assert "EPA" in phone.source


def gpt3_card() -> str:
    """GPT-3 as Patterson et al. 2021 report it: 10,000 V100 x 14.8 days at 330 W, PUE 1.10.

    Devices: 10,000 x 330 W x 355.2 h = 1,172,160 kWh; facility x 1.10 = 1,289,376 kWh
    (the paper rounds to 1,287 MWh); at 429 g/kWh: 553,142,304 g (the paper: 552 tCO2e).
    """
    hours = 14.8 * 24
    end = T0 + timedelta(hours=hours)
    spans = [EnergySpan("gpu", T0, end, 10_000 * 330 * hours * 3600)]  # type: ignore[arg-type]
    series = [CiPoint("US", T0, int(hours * 3600) + 1, 429, "paper", CiKind.ACTUAL,
                      CiSignal.AVERAGE, T0)]  # fmt: skip
    fp = footprint(spans, series, 1.10)
    assert fp.facility_kwh == pytest.approx(1_289_376)
    assert fp.co2e_g == pytest.approx(553_142_304)
    card = energy_card(fp, title="GPT-3", accelerator="V100", accelerator_count=10_000, region="US")
    return card.to_markdown()


def test_the_gpt3_card_shows_engineering_units_with_separators() -> None:
    text = gpt3_card()

    assert "| Energy at the facility | 1,289 MWh |" in text
    assert "| Emissions | 553 t CO2e |" in text
    assert "| Energy at the devices | 1,172 MWh (GPU 1,172 MWh, CPU 0 Wh," in text
    assert "| Accelerator-hours | 3,552,000 h |" in text
    assert (
        "| About (approx.) km driven by an average new passenger car (EU, WLTP) | 5,037,726 ("
        in text
    )
    assert "1289376" not in text.replace(",", "")[: text.index("Emissions")]


@pytest.mark.parametrize(
    ("energy_j", "text"),
    [
        (0.0, "0 Wh"),
        (180.0, "0.05 Wh"),
        (3600.0 * 512.4, "512 Wh"),
        (3600.0 * 9_999, "9,999 Wh"),
        (3600.0 * 10_000, "10.0 kWh"),
        (3.6e6 * 2.4, "2,400 Wh"),
        (3.6e6 * 12.345, "12.3 kWh"),
        (3.6e6 * 1_289_376, "1,289 MWh"),
        (3.6e6 * 12_893_760, "12.9 GWh"),
        (3.6e15 * 123_456, "123,456 TWh"),
        (-3.6e6 * 517.5, "-518 kWh"),
        (float("inf"), "not finite"),
        (float("nan"), "not finite"),
    ],
)
def test_format_energy_picks_the_unit_and_the_digits(energy_j: float, text: str) -> None:
    assert format_energy(energy_j) == text


@pytest.mark.parametrize(
    ("co2e_g", "text"),
    [(0.0, "0 g"), (0.123456, "0.123 g"), (562.5, "562 g"), (9_999.4, "9,999 g"),
     (10_000.0, "10.0 kg"), (553_142_304.0, "553 t"), (5.5e12, "5,500 kt"),
     (-1e21, "-1,000,000,000 Mt")],
)  # fmt: skip
def test_format_co2e_picks_the_unit_and_the_digits(co2e_g: float, text: str) -> None:
    assert format_co2e(co2e_g) == text


def test_the_card_escapes_control_characters_of_outside_text() -> None:
    fp = footprint(SPANS, SERIES, 1.2)
    card = energy_card(
        fp,
        title="\x1b]0;owned\x07\x1b[2Jx\ny",
        accelerator="A40\x1b[31m",
        accelerator_count=1,
        region="GB",
    )

    text = card.to_markdown()

    assert "\x1b" not in text
    assert "\x07" not in text
    assert "### Energy card: \\x1b]0;owned\\x07\\x1b[2Jx\\x0ay\n" in text
    assert "| Accelerator | A40\\x1b[31m x 1 |" in text
