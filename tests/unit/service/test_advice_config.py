"""The site's [advice] section: defaults, bounds, the documented example, the lookups."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from slurm_carbon.config import load_config, parse_config
from slurm_carbon.config.policies import (
    MAX_ADVICE_DEFER_H,
    MAX_ADVICE_GPU_POWER_W,
    MAX_ADVICE_HINT_MIN_MINUTES,
    MAX_ADVICE_WITHIN_H,
    AdviceConfig,
)
from slurm_carbon.errors import ConfigError

EXAMPLE = Path(__file__).parents[3] / "deploy" / "site.example.toml"
MINIMAL = 'cluster = "c1"\n[regions]\ndefault = "DE"\n[pue]\ndefault = 1.25\n'


def test_a_site_without_the_section_takes_the_defaults() -> None:
    advice = parse_config(tomllib.loads(MINIMAL)).advice
    assert advice == AdviceConfig()
    assert (advice.enabled, advice.dir) == (True, "/var/lib/slurm-carbon/advice")
    assert (advice.threshold_pct, advice.defer_default_h, advice.within_h) == (10, 12, 24)
    assert advice.hint_min_minutes == 60
    assert advice.hint_for("any") is True
    assert advice.gpu_model_for("gpu") is None


def test_the_documented_example_loads() -> None:
    advice = load_config(EXAMPLE).advice
    assert advice.gpu_model_for("gpu") == "NVIDIA A100-SXM4-80GB"
    assert advice.gpu_power_w["NVIDIA A100-SXM4-80GB"] == 300
    assert advice.hint_for("gpu") is True
    assert advice.hint_for("debug") is False


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("threshold_pct = -1", "advice.threshold_pct"),
        ("threshold_pct = 101", "advice.threshold_pct"),
        ("defer_default_h = 0", "advice.defer_default_h"),
        (f"defer_default_h = {MAX_ADVICE_DEFER_H + 1}", "advice.defer_default_h"),
        ("within_h = 0", "advice.within_h"),
        ("hint_min_minutes = -1", "advice.hint_min_minutes"),
        (f"hint_min_minutes = {MAX_ADVICE_HINT_MIN_MINUTES + 1}", "advice.hint_min_minutes"),
        (f"within_h = {MAX_ADVICE_WITHIN_H + 1}", "advice.within_h"),
        ('dir = "relative/dir"', "advice.dir"),
        ('gpu_power_w = { "A" = 0 }', "advice.gpu_power_w.A"),
        (f'gpu_power_w = {{ "A" = {MAX_ADVICE_GPU_POWER_W + 1} }}', "advice.gpu_power_w.A"),
        ("colour = 1", "advice.colour"),
    ],
)
def test_out_of_bounds_keys_are_refused_by_name(extra: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f": {key}: "):
        parse_config(tomllib.loads(MINIMAL + "[advice]\n" + extra + "\n"), "s.toml")


def test_hint_partitions_limit_the_hint_and_an_empty_list_means_all() -> None:
    listed = AdviceConfig(hint_partitions=["gpu"])
    assert (listed.hint_for("gpu"), listed.hint_for("cpu")) == (True, False)
    assert AdviceConfig(hint_partitions=[]).hint_for("cpu") is True
