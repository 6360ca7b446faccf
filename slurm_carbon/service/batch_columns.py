"""The ingest body read straight into columns: no pydantic model, no object per interval.

:class:`~slurm_carbon.service.schemas.Batch` says what a valid body is and words
every refusal. Building it costs a model per interval and a dozen Python
validators on each, a third of the service's time while 1,000 nodes sent their
backlog. :func:`parse_batch` takes a cheaper road for the bodies nodes send: a
:class:`pydantic.TypeAdapter` over typed dicts, whose checks all run inside
pydantic-core (types, bounds, lengths, choices, ISO 8601 text), then the checks
that span fields (end after start, energy a device could use, GPU-only fields,
times inside the service's window, text without control characters) as loops
over whole columns. What a body repeats is judged once: an agent's batch names a
few devices and minutes in hundreds of intervals, so each distinct device
description and time text goes through pydantic-core once, and each distinct
(start, end) pair is measured once. Anything that road does not take (a body
``Batch`` refuses, or one it leaves to ``Batch``: times with a UTC offset other
than zero, fields it does not know) goes through ``Batch``, which stores the
same values or gives the one-line refusal. So the fast road only ever accepts
what ``Batch`` accepts, with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress
from operator import eq, itemgetter
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


class _DescribedDevice(TypedDict):
    """A device as an interval describes it: only its fields' types, checked strictly.

    Strict types make Python's ``==`` safe for telling descriptions apart: ``true``
    and ``1.0`` (equal to 1) are refused for ``minor``, so two descriptions that
    compare equal pass or fail :class:`_Device`'s checks alike, with equal values.
    """

    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    uuid: str
    kind: str
    model: NotRequired[str | None]
    minor: NotRequired[int | None]
    min_limit_w: NotRequired[float | None]
    max_limit_w: NotRequired[float | None]


class _Interval(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    job_id: Annotated[int, Field(gt=0, le=MAX_JOB_ID)]
    device: _DescribedDevice
    start: str  # read by _TIMES, once per distinct text
    end: str
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
    time: str
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
_TIMES: TypeAdapter[list[datetime]] = TypeAdapter(list[_Time])
_DEVICES: TypeAdapter[list[_Device]] = TypeAdapter(list[_Device])


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
    starts, ends = list(map(itemgetter("start"), rows)), list(map(itemgetter("end"), rows))
    moments = _moments({*starts, *ends, *map(itemgetter("time"), points)}, now)
    energy_j = [row["energy_j"] + 0.0 for row in rows]  # -0.0 becomes 0.0
    if moments is None or not _physical(starts, ends, moments, energy_j):
        return None
    devices = list(map(itemgetter("device"), rows))
    cap_w = [row.get("cap_w") for row in rows]
    busy_clock_mhz = [row.get("busy_clock_mhz") for row in rows]
    not_gpu = [kind != "gpu" for kind in map(itemgetter("kind"), devices)]
    if {*compress(cap_w, not_gpu), *compress(busy_clock_mhz, not_gpu)} - {None}:
        return None  # a power limit or busy clock given for a CPU or DRAM
    device_uuid = list(map(itemgetter("uuid"), devices))
    described = _described(devices, device_uuid)
    chosen = None if described is None else _chosen_devices(described)
    if described is None or chosen is None:
        return None
    texts = {body["cluster"], body["node"], *(device.get("model") or "" for device in described)}
    if any(has_control(text) for text in texts.union(chosen)):
        return None
    return ValidBatch(
        body["cluster"],
        body["node"],
        IntervalColumns(
            slurm_job_id=list(map(itemgetter("job_id"), rows)),
            device_uuid=device_uuid,
            start=list(map(moments.__getitem__, starts)),
            end=list(map(moments.__getitem__, ends)),
            energy_j=energy_j,
            method=list(map(itemgetter("method"), rows)),
            sharing=list(map(itemgetter("sharing"), rows)),
            cap_w=cap_w,
            busy_clock_mhz=busy_clock_mhz,
            devices=[_reported(device) for device in chosen.values()],
        ),
        [ReportedProgress(p["job_id"], moments[p["time"]], p["fraction"] + 0.0) for p in points],
        None if body.get("health") is None else HealthIn.model_validate(body.get("health")),
    )


def _moments(texts: set[str], now: datetime) -> dict[str, datetime] | None:
    """Each time text read once as ``Batch`` reads it; None when one is not UTC or out of window."""
    ordered = list(texts)
    try:
        read = _TIMES.validate_python(ordered)
    except ValidationError:
        return None
    if read and not (
        all(time.utcoffset() == _ZERO for time in read)
        and min(read) >= EARLIEST_TIME
        and max(read) <= now + MAX_CLOCK_AHEAD
    ):
        return None
    return dict(zip(ordered, read, strict=True))


def _physical(
    starts: list[str], ends: list[str], moments: dict[str, datetime], energy_j: list[float]
) -> bool:
    """Whether each interval ends after its start, within MAX_INTERVAL, using energy a device can.

    Each distinct ``(start, end)`` is measured once; the energies are held to the shortest
    interval's bound first, and one by one only when one exceeds it.
    """
    seconds: dict[tuple[str, str], float] = {}
    for span in set(zip(starts, ends, strict=True)):
        lasted = moments[span[1]] - moments[span[0]]
        if not _ZERO < lasted <= MAX_INTERVAL:
            return False
        seconds[span] = lasted.total_seconds()
    if max(energy_j, default=0.0) <= MAX_DEVICE_POWER_W * min(seconds.values(), default=0.0):
        return True
    return all(
        joules <= MAX_DEVICE_POWER_W * seconds[span]
        for joules, span in zip(energy_j, zip(starts, ends, strict=True), strict=True)
    )


def _described(devices: list[_DescribedDevice], uuids: list[str]) -> list[_Device] | None:
    """The device descriptions to judge, validated; None when one is refused.

    One per uuid, in the order the body first names them, when every interval describes
    its device as the first one naming that uuid does (the agent's batches); else every
    interval's, for :func:`_chosen_devices` to pick from as it does for the whole body.
    """
    first = dict(zip(reversed(uuids), reversed(devices), strict=True))
    judged: list[_DescribedDevice] = devices
    if all(map(eq, devices, map(first.__getitem__, uuids))):
        judged = [first[uuid] for uuid in dict.fromkeys(uuids)]
    try:
        return _DEVICES.validate_python(judged)
    except ValidationError:
        return None


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
