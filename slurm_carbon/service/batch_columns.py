"""The ingest body read straight into columns: no pydantic model, no object per interval.

:class:`~slurm_carbon.service.schemas.Batch` says what a valid body is and words
every refusal. Building it costs a model per interval and a dozen Python
validators on each, a third of the service's time while 1,000 nodes sent their
backlog. :func:`parse_batch` takes a cheaper road for the bodies nodes send: a
:class:`pydantic.TypeAdapter` over typed dicts, whose checks all run inside
pydantic-core (types, bounds, lengths, choices, ISO 8601 text), then the checks
that span fields (end after start, energy a device could use, GPU-only fields,
times inside the service's window, text without control characters) as loops
over whole columns. Anything that road does not take (a body ``Batch`` refuses,
or one it leaves to ``Batch``: times with a UTC offset other than zero, fields
it does not know) goes through ``Batch``, which stores the same values or gives
the one-line refusal. So the fast road only ever accepts what ``Batch`` accepts,
with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal, NotRequired

from pydantic import ConfigDict, Field, GetPydanticSchema, TypeAdapter, ValidationError
from pydantic_core import core_schema
from typing_extensions import TypedDict

from slurm_carbon.service.schemas import (
    EARLIEST_TIME,
    MAX_BUSY_CLOCK_MHZ,
    MAX_CLOCK_AHEAD,
    MAX_DEVICE_POWER_W,
    MAX_INT32,
    MAX_INTERVAL,
    MAX_INTERVALS,
    MAX_JOB_ID,
    MAX_PROGRESS,
    Batch,
    HealthIn,
)
from slurm_carbon.store.ingest import IntervalColumns, ReportedDevice, ReportedProgress
from slurm_carbon.text import has_control
from slurm_carbon.vocabulary import DeviceKind

__all__ = ["ValidBatch", "fast_batch", "parse_batch"]

_ZERO = timedelta(0)
_CONFIG = ConfigDict(extra="forbid", strict=True)
# ISO 8601 text starts with a four-digit year and a dash, which no Unix time does;
# the lax parser then reads it as Batch's Time does.
_Time = Annotated[
    datetime,
    GetPydanticSchema(
        lambda _type, _handler: core_schema.chain_schema(
            [
                core_schema.str_schema(pattern=r"^\d{4}-"),
                core_schema.datetime_schema(strict=False, tz_constraint="aware"),
            ]
        )
    ),
]
_Watts = Annotated[float, Field(gt=0, le=MAX_DEVICE_POWER_W, allow_inf_nan=False)]


class _Device(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    uuid: Annotated[str, Field(min_length=1, max_length=96)]
    kind: Literal["gpu", "cpu", "dram"]
    model: NotRequired[Annotated[str, Field(max_length=128)] | None]
    minor: NotRequired[Annotated[int, Field(ge=0, le=MAX_INT32)] | None]
    min_limit_w: NotRequired[_Watts | None]
    max_limit_w: NotRequired[_Watts | None]


class _Interval(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    job_id: Annotated[int, Field(gt=0, le=MAX_JOB_ID)]
    device: _Device
    start: _Time
    end: _Time
    energy_j: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    method: Literal["counter", "integrated", "estimated"]
    sharing: Literal["exclusive", "shared"]
    cap_w: NotRequired[_Watts | None]
    busy_clock_mhz: NotRequired[
        Annotated[float, Field(ge=0, le=MAX_BUSY_CLOCK_MHZ, allow_inf_nan=False)] | None
    ]


class _Progress(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    job_id: Annotated[int, Field(gt=0, le=MAX_JOB_ID)]
    time: _Time
    fraction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Health(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    spool_backlog: Annotated[int, Field(ge=0, le=MAX_INT32)]
    dead_letters: Annotated[int, Field(ge=0, le=MAX_INT32)]


class _Body(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    cluster: Annotated[str, Field(min_length=1, max_length=64)]
    node: Annotated[str, Field(min_length=1, max_length=255)]
    intervals: Annotated[list[_Interval], Field(max_length=MAX_INTERVALS)]
    progress: NotRequired[Annotated[list[_Progress], Field(max_length=MAX_PROGRESS)]]
    health: NotRequired[_Health | None]


_BODY: TypeAdapter[_Body] = TypeAdapter(_Body)


@dataclass(frozen=True, slots=True)
class ValidBatch:
    """A node's validated batch, as the store takes it."""

    cluster: str
    node: str
    intervals: IntervalColumns
    progress: list[ReportedProgress]
    health: HealthIn | None = None


def parse_batch(body: bytes, now: datetime) -> ValidBatch:
    """The batch in ``body``, judged with the service's clock at ``now``.

    Raises:
        ValidationError: ``Batch``'s, naming the first bad field.
    """
    batch = fast_batch(body, now)
    if batch is not None:
        return batch
    slow = Batch.model_validate_json(body, context={"now": now})
    return ValidBatch(
        slow.cluster,
        slow.node,
        IntervalColumns.of([interval.to_store() for interval in slow.intervals]),
        [point.to_store() for point in slow.progress],
        slow.health,
    )


def fast_batch(body: bytes, now: datetime) -> ValidBatch | None:
    """The batch in ``body`` if the fast road takes it; else None, and ``Batch`` decides."""
    try:
        fast = _BODY.validate_json(body)
    except ValidationError:
        return None
    return _columns(fast, now)


def _columns(body: _Body, now: datetime) -> ValidBatch | None:
    """The batch, if every check that spans fields passes; else None (``Batch`` decides)."""
    rows = body["intervals"]
    points = body.get("progress", [])
    start = [row["start"] for row in rows]
    end = [row["end"] for row in rows]
    times = [*start, *end, *(point["time"] for point in points)]
    if times and not (
        all(time.utcoffset() == _ZERO for time in times)
        and min(times) >= EARLIEST_TIME
        and max(times) <= now + MAX_CLOCK_AHEAD
    ):
        return None
    energy_j = [row["energy_j"] + 0.0 for row in rows]  # -0.0 becomes 0.0
    for began, ended, joules in zip(start, end, energy_j, strict=True):
        lasted = ended - began
        if not _ZERO < lasted <= MAX_INTERVAL or joules > MAX_DEVICE_POWER_W * (
            lasted.total_seconds()
        ):
            return None
    devices = [row["device"] for row in rows]
    cap_w = [row.get("cap_w") for row in rows]
    busy_clock_mhz = [row.get("busy_clock_mhz") for row in rows]
    for device, cap, busy in zip(devices, cap_w, busy_clock_mhz, strict=True):
        if (cap is not None or busy is not None) and device["kind"] != "gpu":
            return None
    chosen = _chosen_devices(devices)
    texts = {body["cluster"], body["node"], *(device.get("model") or "" for device in devices)}
    if chosen is None or any(has_control(text) for text in texts.union(chosen)):
        return None
    return ValidBatch(
        body["cluster"],
        body["node"],
        IntervalColumns(
            slurm_job_id=[row["job_id"] for row in rows],
            device_uuid=[device["uuid"] for device in devices],
            start=start,
            end=end,
            energy_j=energy_j,
            method=[row["method"] for row in rows],
            sharing=[row["sharing"] for row in rows],
            cap_w=cap_w,
            busy_clock_mhz=busy_clock_mhz,
            devices=[_reported(device) for device in chosen.values()],
        ),
        [ReportedProgress(p["job_id"], p["time"], p["fraction"] + 0.0) for p in points],
        None if body.get("health") is None else HealthIn.model_validate(body.get("health")),
    )


def _chosen_devices(devices: list[_Device]) -> dict[str, _Device] | None:
    """Each uuid's device as :func:`~slurm_carbon.store.ingest.unique_devices` picks it.

    None when a device's power-limit range is not a GPU's, whole and ordered.
    """
    chosen: dict[str, _Device] = {}
    for device in devices:
        low, high = device.get("min_limit_w"), device.get("max_limit_w")
        if low is not None or high is not None:
            if device["kind"] != "gpu" or low is None or high is None or low > high:
                return None
            chosen[device["uuid"]] = device
        elif device["uuid"] not in chosen:
            chosen[device["uuid"]] = device
    return chosen


def _reported(device: _Device) -> ReportedDevice:
    return ReportedDevice(
        uuid=device["uuid"],
        kind=DeviceKind(device["kind"]),
        model=device.get("model"),
        minor=device.get("minor"),
        min_limit_w=device.get("min_limit_w"),
        max_limit_w=device.get("max_limit_w"),
    )
