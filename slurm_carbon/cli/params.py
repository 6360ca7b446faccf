"""Option types that refuse hostile values where they enter: at click's parsing.

click's :class:`~click.FloatRange` lets ``nan`` through (every comparison with it
is false) and ``inf`` through when there is no maximum; a plain string option
takes a NUL, an escape sequence or nothing at all. These types refuse them with
click's usage error (exit 2) naming the option, before any command runs.
"""

from __future__ import annotations

import math
from typing import Any

import click

from slurm_carbon.text import escape_control, has_control

__all__ = ["NAME_MAX", "FiniteRange", "Name"]

NAME_MAX = 255
"""Longest node, cluster or region name accepted: a host name is at most 255 bytes
(RFC 1035, POSIX HOST_NAME_MAX is smaller), and Slurm's names are host names."""


class FiniteRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf``."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number, if finite and within the range."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class Name(click.ParamType[str]):
    """A name (node, cluster, region): not empty, no control characters, at most NAME_MAX."""

    name = "name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The name, if it is one."""
        text = str(value)
        if not text.strip():
            self.fail("must not be empty.", param, ctx)
        if has_control(text):
            self.fail(f"{escape_control(text)[:60]!r} holds control characters.", param, ctx)
        if len(text) > NAME_MAX:
            self.fail(f"longer than {NAME_MAX} characters.", param, ctx)
        return text
