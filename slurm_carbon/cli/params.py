"""Option types that refuse hostile values where they enter: at click's parsing, and shared options.

click's :class:`~click.FloatRange` lets ``nan`` through (every comparison with it
is false) and ``inf`` through when there is no maximum; a plain string option
takes a NUL, an escape sequence or nothing at all. These types refuse them with
click's usage error (exit 2) naming the option, before any command runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from slurm_carbon.text import escape_control, has_control

__all__ = [
    "DEFAULT_WORKLOAD",
    "MAX_BATCH_SIZE",
    "NAME_MAX",
    "FiniteRange",
    "Name",
    "workload_filter",
    "workload_options",
]

NAME_MAX = 255
"""Longest node, cluster or region name accepted: a host name is at most 255 bytes
(RFC 1035, POSIX HOST_NAME_MAX is smaller), and Slurm's names are host names."""

DEFAULT_WORKLOAD = "imagenet/resnet50"
"""The rows of a Zeus summary read when neither --workload nor a filter flag is given."""

MAX_BATCH_SIZE = 2**20
"""Largest ``--batch-size``: Zeus's summaries go to 4,096 and no training step takes a
million samples; more is a typo."""

F = TypeVar("F", bound=Callable[..., object])


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


class WorkloadPart(Name):
    """A dataset, network or optimizer of a Zeus summary: a name without ``/``."""

    name = "workload field"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The field, if it is a name without a slash."""
        text = super().convert(value, param, ctx)
        if "/" in text:
            self.fail(f"{escape_control(text)[:60]!r} holds a '/'.", param, ctx)
        return text


def workload_filter(
    workload: str | None,
    dataset: str | None,
    network: str | None,
    batch_size: int | None,
    optimizer: str | None,
) -> str:
    """The row selection ``dataset/network[/batch_size[/optimizer]]`` from either form.

    Raises:
        click.ClickException: ``--workload`` and a flag together; a flag without
            ``--dataset`` and ``--network``; ``--optimizer`` without ``--batch-size``.
    """
    flags = {
        "--dataset": dataset,
        "--network": network,
        "--batch-size": batch_size,
        "--optimizer": optimizer,
    }
    given = [flag for flag, value in flags.items() if value is not None]
    if not given:
        return DEFAULT_WORKLOAD if workload is None else workload
    if workload is not None:
        raise click.ClickException(f"--workload or {', '.join(given)}: give one form, not both")
    if dataset is None or network is None:
        raise click.ClickException(f"{', '.join(given)} needs --dataset and --network")
    if optimizer is not None and batch_size is None:
        raise click.ClickException("--optimizer needs --batch-size (the largest is not assumed)")
    parts = [dataset, network, *([] if batch_size is None else [str(batch_size)])]
    return "/".join([*parts, *([] if optimizer is None else [optimizer])])


_WORKLOAD_OPTIONS = (
    click.option(
        "--workload",
        help="Row selection in a Zeus summary_power_<gpu>.csv:"
        f" dataset/network[/batch_size[/optimizer]]  [default: {DEFAULT_WORKLOAD}]",
    ),
    click.option(
        "--dataset", type=WorkloadPart(), help="Zeus rows of this dataset (e.g. imagenet)."
    ),
    click.option("--network", type=WorkloadPart(), help="...and this network (e.g. resnet50)."),
    click.option(
        "--batch-size",
        type=click.IntRange(1, MAX_BATCH_SIZE),
        help="...and this batch size [the largest there is].",
    ),
    click.option(
        "--optimizer",
        type=WorkloadPart(),
        help="...and this optimizer, with --batch-size [alphabetically first].",
    ),
)


def workload_options(command: F) -> F:
    """``--workload`` or its four filter flags; the command gets one ``workload`` string.

    Both forms build the same :func:`workload_filter` text, which
    :func:`~slurm_carbon.sensors.profiles.load_zeus_profile` reads.
    """

    @functools.wraps(command)
    def with_workload(*args: Any, **kwargs: Any) -> Any:
        kwargs["workload"] = workload_filter(
            kwargs.pop("workload"),
            kwargs.pop("dataset"),
            kwargs.pop("network"),
            kwargs.pop("batch_size"),
            kwargs.pop("optimizer"),
        )
        return command(*args, **kwargs)

    decorated: Callable[..., Any] = with_workload
    for option in reversed(_WORKLOAD_OPTIONS):
        decorated = option(decorated)
    return cast("F", decorated)
