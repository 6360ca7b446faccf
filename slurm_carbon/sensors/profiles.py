"""GPU power profiles: average power and throughput as functions of the power limit.

A :class:`PowerProfile` drives the simulated GPU (:mod:`slurm_carbon.sensors.sim`).
Two sources:

* **Measured** — Zeus's ``summary_power_<gpu>.csv`` (NSDI'23 artifact; columns
  ``dataset,network,batch_size,optimizer,power_limit,time_per_epoch,average_power``):
  one workload per profile, one point per measured limit, throughput
  ``1 / time_per_epoch`` epochs per second. :func:`load_zeus_profile`.
* **Plain** — a CSV with the header ``power_limit_w,throughput,power_w``, one
  row per limit (a profile measured some other way). :func:`load_profile` reads
  either file, told apart by its header.
* **Synthetic** — :func:`synthetic_profile`, used when no file is given so the
  product works without any data set. It is labelled ``"synthetic"``.

Between points, power and throughput are interpolated linearly in the limit;
outside the measured range the nearest point holds.

Units: power and limits in watts (``_w``), throughput in work units per second
(one unit = one epoch for Zeus profiles).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slurm_carbon.errors import ConfigError

__all__ = [
    "MAX_PROFILE_BYTES",
    "PLAIN_COLUMNS",
    "PowerProfile",
    "ProfilePoint",
    "load_profile",
    "load_zeus_profile",
    "synthetic_profile",
]

#: Largest profile file read (Zeus's biggest summary is 40 kB). Units: bytes.
MAX_PROFILE_BYTES = 10_000_000
#: Header of the plain profile CSV.
PLAIN_COLUMNS = ("power_limit_w", "throughput", "power_w")

_ZEUS_COLUMNS = {
    "dataset",
    "network",
    "batch_size",
    "optimizer",
    "power_limit",
    "time_per_epoch",
    "average_power",
}


@dataclass(frozen=True)
class ProfilePoint:
    """One measured (or modelled) power limit.

    Attributes:
        limit_w: The power limit. Units: watts.
        power_w: Average draw at that limit. Units: watts.
        throughput: Work done per second at that limit. Units: units/s.
    """

    limit_w: float
    power_w: float
    throughput: float


@dataclass(frozen=True)
class PowerProfile:
    """Power and throughput of one workload on one GPU model, per power limit.

    Attributes:
        name: What was measured, e.g. ``"v100 imagenet/resnet50/256/adadelta"``
            or ``"synthetic"``.
        model: The GPU model the simulated device reports, e.g. ``"Simulated V100"``.
        points: At least one point, sorted by limit, limits distinct.
        idle_power_w: Draw with no workload. Units: watts.
        source: Where the numbers come from (file and row selection, or the
            synthetic formula).
    """

    name: str
    model: str
    points: tuple[ProfilePoint, ...]
    idle_power_w: float
    source: str

    def __post_init__(self) -> None:
        if not self.points:
            raise ConfigError(f"power profile {self.name!r} has no points")
        limits = [p.limit_w for p in self.points]
        if limits != sorted(set(limits)):
            raise ConfigError(f"power profile {self.name!r}: limits not sorted and distinct")
        if any(p.throughput <= 0 or p.power_w <= 0 for p in self.points):
            raise ConfigError(f"power profile {self.name!r}: power and throughput must be > 0")

    @property
    def min_limit_w(self) -> float:
        """The lowest profiled limit. Units: watts."""
        return self.points[0].limit_w

    @property
    def max_limit_w(self) -> float:
        """The highest profiled limit. Units: watts."""
        return self.points[-1].limit_w

    def at(self, limit_w: float) -> ProfilePoint:
        """Power and throughput at ``limit_w``, interpolated linearly. Units: watts, units/s."""
        points = self.points
        if limit_w <= points[0].limit_w:
            return ProfilePoint(limit_w, points[0].power_w, points[0].throughput)
        for low, high in itertools.pairwise(points):
            if limit_w <= high.limit_w:
                share = (limit_w - low.limit_w) / (high.limit_w - low.limit_w)
                return ProfilePoint(
                    limit_w,
                    low.power_w + share * (high.power_w - low.power_w),
                    low.throughput + share * (high.throughput - low.throughput),
                )
        return ProfilePoint(limit_w, points[-1].power_w, points[-1].throughput)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (stored in the simulated GPU's state file)."""
        return {
            "name": self.name,
            "model": self.model,
            "idle_power_w": self.idle_power_w,
            "source": self.source,
            "points": [[p.limit_w, p.power_w, p.throughput] for p in self.points],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PowerProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            model=str(data["model"]),
            points=tuple(ProfilePoint(*map(float, p)) for p in data["points"]),
            idle_power_w=float(data["idle_power_w"]),
            source=str(data["source"]),
        )


def synthetic_profile(
    min_limit_w: float = 100.0,
    max_limit_w: float = 300.0,
    throughput_at_max: float = 1.0,
    step_w: float = 25.0,
) -> PowerProfile:
    """A modelled profile, shaped like Zeus's measurements, labelled ``"synthetic"``.

    With ``P = max_limit_w``: the uncapped job draws ``0.9 P`` (no job uses
    the whole board limit), so the draw at limit ``L`` is
    ``power(L) = min(L, 0.9 P)``; throughput is concave in that power,
    ``throughput(L) = throughput_at_max * sqrt(power(L) / (0.9 P))``, so
    lowering the limit slows the job less than proportionally and saves
    energy per unit — at ``L = P/3`` the job runs at 61 % speed on 37 % of
    the power (Zeus's V100 ResNet-50 data: 52 % speed at 40 % of the limit).
    Idle draw is ``0.1 P``. Points every ``step_w`` from ``min_limit_w`` to
    ``max_limit_w``.

    Units: watts, units/s.
    """
    if not 0 < min_limit_w < max_limit_w or step_w <= 0 or throughput_at_max <= 0:
        raise ConfigError("synthetic profile needs 0 < min < max, step > 0, throughput > 0")
    free_w = 0.9 * max_limit_w
    count = math.floor((max_limit_w - min_limit_w) / step_w)
    limits = [min_limit_w + i * step_w for i in range(count + 1)]
    if limits[-1] < max_limit_w:
        limits.append(max_limit_w)
    points = []
    for limit in limits:
        power = min(limit, free_w)
        points.append(ProfilePoint(limit, power, throughput_at_max * math.sqrt(power / free_w)))
    return PowerProfile(
        name="synthetic",
        model="Simulated GPU (synthetic profile)",
        points=tuple(points),
        idle_power_w=0.1 * max_limit_w,
        source=(
            f"synthetic: power=min(L, 0.9*{max_limit_w:g} W), "
            f"throughput={throughput_at_max:g}*sqrt(power/{free_w:g} W)"
        ),
    )


def load_profile(path: Path, workload: str) -> PowerProfile:
    """A plain profile CSV or one workload of a Zeus summary, told apart by the header.

    Raises:
        ConfigError: Not a regular file (a FIFO would block the read), larger than
            :data:`MAX_PROFILE_BYTES`, unreadable or malformed.
    """
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: not a regular file")
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_PROFILE_BYTES:,} bytes")
        with path.open(newline="") as stream:
            header = stream.readline().strip().split(",")
    except OSError as exc:
        raise ConfigError(f"cannot read power profile {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a power profile: {exc}") from exc
    if tuple(header) != PLAIN_COLUMNS:
        return load_zeus_profile(path, workload)
    try:
        return _plain_profile(path)
    except OSError as exc:
        raise ConfigError(f"cannot read power profile {path}: {exc.strerror}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a power profile: {exc}") from exc


def _plain_profile(path: Path) -> PowerProfile:
    points = []
    with path.open(newline="") as stream:
        for line, row in enumerate(csv.reader(stream), start=1):
            if line == 1:
                continue
            try:
                limit_w, throughput, power_w = (float(value) for value in row)
            except ValueError as exc:
                raise ConfigError(f"{path} line {line}: expected 3 numbers: {exc}") from exc
            if not all(math.isfinite(v) and v > 0 for v in (limit_w, throughput, power_w)):
                raise ConfigError(f"{path} line {line}: values must be finite and > 0")
            points.append(ProfilePoint(limit_w, power_w, throughput))
    points.sort(key=lambda p: p.limit_w)
    if not points:
        raise ConfigError(f"{path}: no profile rows")
    return PowerProfile(
        name=path.stem,
        model="Simulated GPU",
        points=tuple(points),
        idle_power_w=0.1 * points[-1].limit_w,
        source=path.name,
    )


def load_zeus_profile(path: Path, workload: str) -> PowerProfile:
    """One workload of a Zeus ``summary_power_<gpu>.csv`` as a profile.

    Args:
        path: The CSV file, e.g. ``.../zeus_nsdi23/summary_power_v100.csv``
            (ml-energy/zeus, ``examples/research_reproducibility/zeus_nsdi23/trace``,
            Apache-2.0).
        workload: ``dataset/network[/batch_size[/optimizer]]``, e.g.
            ``"imagenet/resnet50"``. When several batch sizes or optimizers
            match, the largest batch size and then the alphabetically first
            optimizer are used.

    Returns:
        The profile; its model is ``"Simulated <GPU>"`` from the file name,
        idle power 10 % of the highest limit (the CSV has no idle figure).

    Raises:
        ConfigError: Missing or malformed file, or no row matches ``workload``.
    """
    parts = workload.split("/")
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise ConfigError(
            f"workload {workload!r}: expected dataset/network[/batch_size[/optimizer]]"
        )
    try:
        with path.open(newline="") as stream:
            reader = csv.DictReader(stream)
            missing = _ZEUS_COLUMNS - set(reader.fieldnames or ())
            if missing:
                raise ConfigError(f"{path}: not a Zeus power summary, missing {sorted(missing)}")
            rows = [row for row in reader if _matches(row, parts)]
    except OSError as exc:
        raise ConfigError(f"cannot read power profile {path}: {exc.strerror}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:  # e.g. a field over csv's 131,072 limit
        raise ConfigError(f"{path}: not a Zeus power summary: {exc}") from exc
    if not rows:
        raise ConfigError(f"{path}: no rows for workload {workload!r}")
    batch = max(int(row["batch_size"]) for row in rows)
    optimizer = min(row["optimizer"] for row in rows if int(row["batch_size"]) == batch)
    chosen = [r for r in rows if int(r["batch_size"]) == batch and r["optimizer"] == optimizer]
    points = _zeus_points(path, chosen)
    gpu = path.stem.removeprefix("summary_power_")
    label = f"{parts[0]}/{parts[1]}/{batch}/{optimizer}"
    return PowerProfile(
        name=f"{gpu} {label}",
        model=f"Simulated {gpu.upper()}",
        points=points,
        idle_power_w=0.1 * points[-1].limit_w,
        source=f"{path.name} ({label}; Zeus NSDI'23, Apache-2.0)",
    )


def _matches(row: Mapping[str, str], parts: Sequence[str]) -> bool:
    fields = ("dataset", "network", "batch_size", "optimizer")
    return all(row[field] == part for field, part in zip(fields, parts, strict=False))


def _zeus_points(path: Path, rows: Sequence[Mapping[str, str]]) -> tuple[ProfilePoint, ...]:
    try:
        points = {
            float(row["power_limit"]): ProfilePoint(
                float(row["power_limit"]),
                float(row["average_power"]),
                1.0 / float(row["time_per_epoch"]),
            )
            for row in rows
        }
    except (ValueError, ZeroDivisionError) as exc:
        raise ConfigError(f"{path}: malformed number: {exc}") from exc
    return tuple(points[limit] for limit in sorted(points))
