"""deploy/grafana/slurm-carbon.json: every query names metrics and labels the service exports.

The names and labels come from the service's own list (``service.metrics.METRICS``,
from which its collector builds every family), never from a copy kept here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slurm_carbon.service.metrics import METRICS

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "slurm-carbon.json"
#: Labels Prometheus adds to every scraped series (the scrape job and the target).
TARGET_LABELS = frozenset({"instance", "job"})
#: The bucket bound of a histogram's ``_bucket`` series.
BUCKET_LABEL = "le"

_SERIES = {
    series: spec
    for spec in METRICS
    for series in spec.series_names
    if not series.endswith("_created")
}
_NAME = re.compile(r"\b(slurm_carbon_[a-z0-9_]+)\b")
_SELECTOR = re.compile(r"\b(slurm_carbon_[a-z0-9_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|ignoring|on|group_left|group_right)\s*\(([^)]*)\)")
_LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def problems(expr: str, legend: str = "") -> list[str]:
    """What in ``expr`` (and its legend) the service does not export; [] when all is known."""
    found: list[str] = []
    names = _NAME.findall(expr)
    if not names:
        found.append(f"no slurm_carbon metric in {expr!r}")
    unknown = [name for name in names if name not in _SERIES]
    found += [f"unknown metric {name}" for name in unknown]
    labels = {label for name in names if name in _SERIES for label in _SERIES[name].labels}
    if any(name.endswith("_bucket") for name in names):
        labels.add(BUCKET_LABEL)
    for name, matchers in _SELECTOR.findall(expr):
        if name in _SERIES:
            found += [
                f"{name} has no label {label}"
                for label in _MATCHER.findall(matchers)
                if label not in _SERIES[name].labels
            ]
    for keyword, listed in _GROUPING.findall(expr):
        allowed = labels | TARGET_LABELS if keyword in {"without", "ignoring"} else labels
        found += [
            f"{keyword} ({label}): no metric of the query has it"
            for label in (part.strip() for part in listed.split(","))
            if label and label not in allowed
        ]
    found += [
        f"legend {{{{{label}}}}} not a label"
        for label in _LEGEND.findall(legend)
        if label not in labels
    ]
    return found


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _targets() -> list[dict[str, Any]]:
    return [
        target for panel in _panels(_dashboard()["panels"]) for target in panel.get("targets", [])
    ]


def test_the_checker_refuses_what_is_not_exported() -> None:
    assert problems("rate(slurm_carbon_emissions_grams_total[5m])") == []
    assert problems("rate(slurm_carbon_emission_grams_total[5m])")  # a misspelt name
    assert problems('slurm_carbon_gpus_capped{partition="gpu"}')  # a label it lacks
    assert problems("sum by (user) (slurm_carbon_emissions_grams_total)")  # no per-user label
    assert problems("slurm_carbon_comment_writes", "{{node}}")  # a legend of nothing
    assert problems("slurm_carbon_energy_joules")  # a counter without its _total


@pytest.mark.parametrize("target", _targets(), ids=lambda t: str(t["expr"])[:60])
def test_every_query_names_exported_metrics_and_labels(target: dict[str, Any]) -> None:
    assert problems(target["expr"], target.get("legendFormat", "")) == []


def test_the_variables_read_exported_labels_and_prometheus_is_a_variable() -> None:
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            metric, label = re.fullmatch(
                r"label_values\((\w+), (\w+)\)", variable["query"]["query"]
            ).groups()  # type: ignore[union-attr]
            assert label in _SERIES[metric].labels
    for panel in _panels(_dashboard()["panels"]):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"


def test_the_dashboard_shows_every_exported_metric() -> None:
    used = {name for target in _targets() for name in _NAME.findall(target["expr"])}
    assert {_SERIES[name].name for name in used} == {spec.name for spec in METRICS}
