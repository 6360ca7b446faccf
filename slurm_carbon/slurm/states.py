"""Slurm's job states: their names, sacct's abbreviations, which are final and which are waste.

One home for Slurm's state vocabulary: the writer waits for a
:data:`TERMINAL_STATES` record, the report parses ``-s CD,F`` with
:func:`parse_states` and counts the emissions of jobs that ended in one of
:data:`WASTE_STATES`. A state as sacct prints it may carry detail
(``CANCELLED by 1000``); its first word is the state.
"""

from __future__ import annotations

from slurm_carbon.errors import ConfigError
from slurm_carbon.text import quote_input

__all__ = [
    "STATE_ABBREVIATIONS",
    "TERMINAL_STATES",
    "WASTE_STATES",
    "is_waste_state",
    "parse_states",
]

# sacct's job states and their abbreviations (sacct(1), "JOB STATE CODES").
STATE_ABBREVIATIONS = {
    "BF": "BOOT_FAIL",
    "CA": "CANCELLED",
    "CD": "COMPLETED",
    "DL": "DEADLINE",
    "F": "FAILED",
    "NF": "NODE_FAIL",
    "OOM": "OUT_OF_MEMORY",
    "PD": "PENDING",
    "PR": "PREEMPTED",
    "R": "RUNNING",
    "RQ": "REQUEUED",
    "RS": "RESIZING",
    "RV": "REVOKED",
    "S": "SUSPENDED",
    "TO": "TIMEOUT",
}

#: Job states after which the job holds no resources and its record is final.
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)

#: Job states whose emissions the report counts as waste: the work did not complete.
WASTE_STATES = ("FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")


def is_waste_state(state: str | None) -> bool:
    """Whether ``state`` (e.g. ``CANCELLED by 1000``) is one of :data:`WASTE_STATES`."""
    return state is not None and state.split(" ", 1)[0].upper() in WASTE_STATES


def parse_states(text: str) -> tuple[str, ...]:
    """Comma-separated states or their abbreviations (``CD,F,oom``) as Slurm's words.

    Raises:
        ConfigError: an unknown state.
    """
    known = set(STATE_ABBREVIATIONS.values())
    states: list[str] = []
    for item in text.split(","):
        word = item.strip().upper()
        state = STATE_ABBREVIATIONS.get(word, word)
        if state not in known:
            raise ConfigError(
                f"unknown job state {quote_input(item.strip())} (known: "
                + ", ".join(f"{name} ({abbr})" for abbr, name in STATE_ABBREVIATIONS.items())
                + ")"
            )
        if state not in states:
            states.append(state)
    return tuple(states)
