"""Slurm's job states: abbreviations, final and waste states, sacct's -s grammar."""

from __future__ import annotations

import pytest

from slurm_carbon.errors import ConfigError
from slurm_carbon.slurm.states import (
    STATE_ABBREVIATIONS,
    TERMINAL_STATES,
    WASTE_STATES,
    is_waste_state,
    parse_states,
)


def test_waste_states() -> None:
    assert is_waste_state("CANCELLED by 1000")
    assert is_waste_state("OUT_OF_MEMORY")
    assert is_waste_state("node_fail")
    assert not is_waste_state("COMPLETED")
    assert not is_waste_state(None)


def test_every_waste_and_terminal_state_has_an_abbreviation() -> None:
    known = set(STATE_ABBREVIATIONS.values())
    assert set(WASTE_STATES) <= TERMINAL_STATES <= known
    assert "RUNNING" not in TERMINAL_STATES
    assert "COMPLETED" not in WASTE_STATES


def test_parse_states_takes_names_and_abbreviations_once_each() -> None:
    assert parse_states("CD,f, oom,completed") == ("COMPLETED", "FAILED", "OUT_OF_MEMORY")
    assert parse_states("ca") == ("CANCELLED",)


def test_parse_states_names_an_unknown_state_escaped() -> None:
    with pytest.raises(ConfigError, match=r"unknown job state 'X\\x1b' \(known: BOOT_FAIL \(BF\)"):
        parse_states("CD,X\x1b")
