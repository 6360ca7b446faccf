"""The AdminComment codec: the payload from a footprint, finding ours, merging with foreign text."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from datetime import timedelta

import pytest

from slurm_carbon.accounting import EnergySpan, footprint
from slurm_carbon.accounting.admin_comment import (
    PAYLOAD_PREFIX,
    comment_payload,
    has_foreign,
    merge_admin_comment,
    our_part,
)
from tests.unit.accounting.data import KWH, SPANS, T0, point

PAYLOAD = re.compile(
    r"^sc1:co2e_g=[0-9]+(\.[0-9]+)?;kwh=[0-9]+(\.[0-9]+)?;ci=([0-9]+(\.[0-9]+)?|na)"
    r";pue=([0-9]+(\.[0-9]+)?|na);q=(meas|int|est|none)(;ci_src=synthetic)?$"
)
# What Princeton Jobstats' EpilogSlurmctld writes: "JS1:" and base64 of gzipped JSON (here plain).
JOBSTATS = "JS1:" + base64.b64encode(json.dumps({"nodes": {"g1": {"cpus": 4}}}).encode()).decode()


def fields(part: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in part.removeprefix(PAYLOAD_PREFIX).split(";"))


def test_comment_payload_is_exact_for_the_hand_computed_example() -> None:
    fp = footprint(SPANS, [point(0, 100), point(1, 300)], 1.2)

    assert comment_payload(fp) == "sc1:co2e_g=300;kwh=1.8;ci=167;pue=1.2;q=est"


def test_comment_payload_says_when_the_intensity_was_synthetic() -> None:
    made_up = [replace(point(0, 100), synthetic=True), point(1, 300)]  # one hour is enough
    fp = footprint(SPANS, made_up, 1)

    payload = comment_payload(fp)

    assert fp.quality.ci_synthetic
    assert payload.endswith(";q=est;ci_src=synthetic")
    assert PAYLOAD.match(payload), payload


def test_comment_payload_reads_the_flag_not_the_source_name() -> None:
    named = [point(0, 100, source="synthetic"), point(1, 300, source="synthetic")]

    assert comment_payload(footprint(SPANS, named, 1)).endswith(";q=est")


@pytest.mark.parametrize(
    ("kwh", "ci", "pue"),
    [(1.0, 100.0, 1.2), (12345.678, 812.4321, 1.3456), (1e-6, 0.0, 1.0), (0.0, 380.0, 1.1)],
)
def test_comment_payload_is_short_lower_case_ascii(kwh: float, ci: float, pue: float) -> None:
    spans = [EnergySpan("gpu", T0, T0 + timedelta(hours=1), kwh * KWH)]  # type: ignore[arg-type]
    payload = comment_payload(footprint(spans, [point(0, ci)], pue))

    assert PAYLOAD.match(payload), payload
    assert payload == payload.lower()
    assert payload.isascii()
    assert len(payload) <= 120
    assert not set(payload) & set("|\"' \n`")


@pytest.mark.parametrize(
    "foreign",
    ["", "Checked by OPS", JOBSTATS, f"{JOBSTATS} sc1:co2e_g=9.9;kwh=1", "note sc1:old=1 more"],
)
def test_round_trip_through_a_foreign_comment_and_sacctmgr_lower_casing(foreign: str) -> None:
    payload = comment_payload(footprint(SPANS, [point(0, 100), point(1, 300)], 1.2))

    merged = merge_admin_comment(foreign, payload)
    # Slurm 22.05's sacctmgr lower-cases the whole field it writes, the foreign part too.
    for comment in (merged, merged.lower()):
        found = our_part(comment)
        assert found == payload
        assert fields(found) == {
            "co2e_g": "300",
            "kwh": "1.8",
            "ci": "167",
            "pue": "1.2",
            "q": "est",
        }
    kept = [w for w in foreign.split() if not w.lower().startswith("sc1:")]
    assert merged.split()[:-1] == kept
    assert has_foreign(merged) == bool(kept)


@pytest.mark.parametrize(
    ("existing", "merged"),
    [
        ("", "sc1:x=1"),
        ("sc1:x=0", "sc1:x=1"),
        ("SC1:X=0", "sc1:x=1"),
        ("Checked by OPS", "Checked by OPS sc1:x=1"),
        ("a sc1:x=0 b", "a b sc1:x=1"),
    ],
)
def test_merge_admin_comment(existing: str, merged: str) -> None:
    assert merge_admin_comment(existing, "sc1:x=1") == merged
    assert our_part(merged) == "sc1:x=1"


def test_merge_refuses_what_is_not_a_payload() -> None:
    with pytest.raises(ValueError, match="not a payload"):
        merge_admin_comment("", "co2e_g=1")
    with pytest.raises(ValueError, match="not a payload"):
        merge_admin_comment("", "sc1:co2e_g=1 x")


def test_our_part_is_the_last_of_ours_and_none_without_one() -> None:
    assert our_part("sc1:a=1 JS1:abc SC1:B=2") == "sc1:b=2"
    assert our_part(JOBSTATS) is None
    assert our_part("") is None
    assert not has_foreign("sc1:a=1")
    assert not has_foreign("")
    assert has_foreign(f"sc1:a=1 {JOBSTATS}")
