"""The ingest API's request body, validated strictly, and its errors in one line.

A batch is refused whole when any field is wrong; :func:`first_error` names the
first bad field by its path, e.g. ``intervals[3].energy_j: Input should be
greater than or equal to 0``. Strict mode: no "123" for 123, no 1.0 for a job
id, no ``true`` for a number, no Unix time (number or numeric string) for a
datetime; unknown fields are refused.

Every value is bounded where it enters (listed for users in the README, "How a job
is measured", step 3):
times are aware, convert to UTC and fall between :data:`EARLIEST_TIME` and
:data:`MAX_CLOCK_AHEAD` past the service's clock (given as ``context={"now":
...}`` to the validation); an interval ends after it starts and lasts at most
:data:`MAX_INTERVAL`; ``energy_j`` is finite, non-negative and at most
:data:`MAX_DEVICE_POWER_W` over the interval; a GPU's ``cap_w`` (the power
limit in force, optional) is positive and at most :data:`MAX_DEVICE_POWER_W`,
its ``busy_clock_mhz`` (utilization x SM clock, optional) within 0 and
:data:`MAX_BUSY_CLOCK_MHZ`, and a GPU device's ``min_limit_w`` and
``max_limit_w`` (its power-limit range, optional, given together) positive,
at most :data:`MAX_DEVICE_POWER_W`, the minimum not above the maximum;
text holds no control characters (:func:`slurm_carbon.text.has_control`) and
fits its column; a progress point's ``fraction`` is finite and within 0..1,
and a batch holds at most :data:`MAX_PROGRESS` of them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from slurm_carbon.store import ReportedDevice, ReportedInterval, ReportedProgress
from slurm_carbon.text import escape_control, has_control
from slurm_carbon.vocabulary import MEASURED_DEVICE_KINDS, DeviceKind, EnergyMethod, Sharing

__all__ = [
    "EARLIEST_TIME",
    "MAX_BUSY_CLOCK_MHZ",
    "MAX_CLOCK_AHEAD",
    "MAX_DEVICE_POWER_W",
    "MAX_INT32",
    "MAX_INTERVAL",
    "MAX_INTERVALS",
    "MAX_JOB_ID",
    "MAX_PROGRESS",
    "Batch",
    "DeviceIn",
    "HealthIn",
    "IntervalIn",
    "ProgressIn",
    "error_path",
    "first_error",
]

#: About 3 MB of JSON, inside MAX_BODY_BYTES; an agent's batch holds far fewer.
MAX_INTERVALS = 10_000
#: The agent keeps at most one point per job per 5 s and sends at most 1,000 per
#: batch; 10,000 (about 0.8 MB of JSON) leaves room and stays inside MAX_BODY_BYTES.
MAX_PROGRESS = 10_000
#: Slurm job ids are uint32 (a 26-bit local id and 6 bits of federation cluster id).
MAX_JOB_ID = 2**32 - 1
#: PostgreSQL's integer columns (a device's minor number, a spool's counts) hold 32 bits.
MAX_INT32 = 2**31 - 1
#: No measurement by this project predates it; earlier times are a broken node clock.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
#: How far a node's clock may run ahead of the service's (time zone or NTP trouble);
#: later intervals cannot have been measured yet.
MAX_CLOCK_AHEAD = timedelta(days=1)
#: The agent closes an interval every 60 s; a day is ample and keeps energy bounds sane.
MAX_INTERVAL = timedelta(days=1)
#: No device the agent measures (a GPU, a CPU package, its DRAM) draws 10 kW; the largest
#: GPU modules draw under 3 kW. Energy above this power over an interval is not physical.
MAX_DEVICE_POWER_W = 10_000.0
#: No GPU's SM clock reaches 4 GHz (data-centre GPUs boost to about 2 GHz); a busy
#: clock (utilization x SM clock) above 10 GHz is a broken reading, not a fast GPU.
MAX_BUSY_CLOCK_MHZ = 10_000.0
#: Error messages are one line for a client's log: a body's unknown key may be megabytes.
MAX_ERROR_CHARS = 300

# What pydantic would read as a Unix time ("1700000000", "-1.5e9"); ours are ISO 8601.
_NUMERIC = re.compile(r"\s*[-+]?[\d.]+(?:[eE][-+]?\d+)?\s*")


def _plain_text(value: str) -> str:
    if has_control(value):
        raise ValueError("must not contain control characters")
    return value


def _iso_text(value: Any) -> Any:
    """Let only text that is not a number through to the (then lax) datetime parser."""
    if not isinstance(value, str) or _NUMERIC.fullmatch(value):
        raise ValueError("must be an ISO 8601 time with its UTC offset, e.g. 2026-11-23T15:00:00Z")
    return value


def _plausible(value: datetime, info: ValidationInfo) -> datetime:
    """``value`` in UTC, refused outside ``[EARLIEST_TIME, now + MAX_CLOCK_AHEAD]``."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("is outside the years 1-9999 in UTC") from None
    context = info.context if isinstance(info.context, dict) else {}
    now: datetime = context.get("now") or datetime.now(UTC)
    latest = now + MAX_CLOCK_AHEAD
    if not EARLIEST_TIME <= utc <= latest:
        raise ValueError(
            f"must fall between {EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} "
            f"and {latest.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} (a day after the service's time)"
        )
    return utc


_PLAIN = AfterValidator(_plain_text)
# Lengths are the columns' (store/models.py), so a valid body always fits.
ClusterName = Annotated[str, Field(min_length=1, max_length=64), _PLAIN]
Hostname = Annotated[str, Field(min_length=1, max_length=255), _PLAIN]
DeviceUuid = Annotated[str, Field(min_length=1, max_length=96), _PLAIN]
DeviceModel = Annotated[str, Field(max_length=128), _PLAIN]


def _measured_kind(value: Any) -> DeviceKind:
    """A measured device's kind (``other``, the unmeasured node parts, is never reported)."""
    if isinstance(value, str) and value in MEASURED_DEVICE_KINDS:
        return DeviceKind(value)
    *most, last = (f"'{kind}'" for kind in MEASURED_DEVICE_KINDS)
    expected = f"{', '.join(most)} or {last}"
    raise PydanticCustomError("enum", "Input should be {expected}", {"expected": expected})


MeasuredKind = Annotated[DeviceKind, PlainValidator(_measured_kind)]
# The parser must be lax for text handed on by a validator (strict takes only a datetime
# object then); _iso_text refuses what lax mode would take besides ISO 8601 text.
Time = Annotated[
    AwareDatetime, Strict(False), BeforeValidator(_iso_text), AfterValidator(_plausible)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DeviceIn(_Strict):
    """A measured device, named by its UUID on the node (NVML UUID, RAPL domain)."""

    uuid: DeviceUuid
    kind: MeasuredKind
    model: DeviceModel | None = None
    minor: int | None = Field(default=None, ge=0, le=MAX_INT32)
    min_limit_w: float | None = Field(
        default=None, gt=0, le=MAX_DEVICE_POWER_W, allow_inf_nan=False
    )
    max_limit_w: float | None = Field(
        default=None, gt=0, le=MAX_DEVICE_POWER_W, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _limit_range(self) -> DeviceIn:
        low, high = self.min_limit_w, self.max_limit_w
        if low is None and high is None:
            return self
        if self.kind != DeviceKind.GPU:
            raise ValueError("only a GPU has a power-limit range")
        if low is None or high is None:
            raise ValueError("min_limit_w and max_limit_w come together")
        if low > high:
            raise ValueError(f"min_limit_w {low:g} W above max_limit_w {high:g} W")
        return self


class IntervalIn(_Strict):
    """Energy one device used for one job over ``[start, end)``. Units: joules."""

    job_id: int = Field(gt=0, le=MAX_JOB_ID)
    device: DeviceIn
    start: Time
    end: Time
    energy_j: float = Field(ge=0, allow_inf_nan=False)
    method: EnergyMethod
    sharing: Sharing
    cap_w: float | None = Field(default=None, gt=0, le=MAX_DEVICE_POWER_W, allow_inf_nan=False)
    busy_clock_mhz: float | None = Field(
        default=None, ge=0, le=MAX_BUSY_CLOCK_MHZ, allow_inf_nan=False
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        if start is not None and end - start > MAX_INTERVAL:
            raise ValueError(f"an interval lasts at most {MAX_INTERVAL.total_seconds():.0f} s")
        return end

    @field_validator("energy_j")
    @classmethod
    def _physical(cls, energy_j: float, info: ValidationInfo) -> float:
        start, end = info.data.get("start"), info.data.get("end")
        if start is not None and end is not None:
            seconds = (end - start).total_seconds()
            if energy_j > MAX_DEVICE_POWER_W * seconds:
                raise ValueError(
                    f"more than {MAX_DEVICE_POWER_W:.0f} W over the interval's {seconds:g} s"
                )
        return energy_j + 0.0  # -0.0 becomes 0.0

    @field_validator("cap_w")
    @classmethod
    def _gpu_only(cls, cap_w: float | None, info: ValidationInfo) -> float | None:
        device = info.data.get("device")
        if cap_w is not None and device is not None and device.kind != DeviceKind.GPU:
            raise ValueError("only a GPU has a power limit")
        return cap_w

    @field_validator("busy_clock_mhz")
    @classmethod
    def _gpu_busy_only(cls, busy_clock_mhz: float | None, info: ValidationInfo) -> float | None:
        device = info.data.get("device")
        if busy_clock_mhz is not None and device is not None and device.kind != DeviceKind.GPU:
            raise ValueError("only a GPU has a busy clock")
        return busy_clock_mhz

    def to_store(self) -> ReportedInterval:
        """The interval as the store takes it."""
        return ReportedInterval(
            slurm_job_id=self.job_id,
            device=ReportedDevice(
                uuid=self.device.uuid,
                kind=self.device.kind,
                model=self.device.model,
                minor=self.device.minor,
                min_limit_w=self.device.min_limit_w,
                max_limit_w=self.device.max_limit_w,
            ),
            start=self.start,
            end=self.end,
            energy_j=self.energy_j,
            method=self.method,
            sharing=self.sharing,
            cap_w=self.cap_w,
            busy_clock_mhz=self.busy_clock_mhz,
        )


class ProgressIn(_Strict):
    """How far a job said it was at ``time`` (``slurm_carbon.progress``). Units: fraction 0..1."""

    job_id: int = Field(gt=0, le=MAX_JOB_ID)
    time: Time
    fraction: float = Field(ge=0, le=1, allow_inf_nan=False)

    def to_store(self) -> ReportedProgress:
        """The point as the store takes it."""
        return ReportedProgress(
            slurm_job_id=self.job_id, time=self.time, fraction=self.fraction + 0.0
        )


class HealthIn(_Strict):
    """The agent's spool as the batch leaves: rows still waiting besides it, dead letters kept.

    Bounded by the store's 32-bit columns; a real spool holds far fewer.
    """

    spool_backlog: int = Field(ge=0, le=MAX_INT32)
    dead_letters: int = Field(ge=0, le=MAX_INT32)


class Batch(_Strict):
    """``POST /api/v1/intervals``: one node's intervals and progress, reported by that node.

    ``health`` is optional: an older agent does not send it.
    """

    cluster: ClusterName
    node: Hostname
    intervals: list[IntervalIn] = Field(max_length=MAX_INTERVALS)
    progress: list[ProgressIn] = Field(default_factory=list, max_length=MAX_PROGRESS)
    health: HealthIn | None = None


def error_path(loc: tuple[int | str, ...]) -> str:
    """``("intervals", 3, "energy_j")`` -> ``intervals[3].energy_j``; ``()`` -> ``body``.

    Keys are the client's text: control characters in them come out escaped.
    """
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return escape_control(path) or "body"


def first_error(error: ValidationError) -> str:
    """The first error of a validation, as ``<path>: <message>``, cut to MAX_ERROR_CHARS."""
    first = error.errors(include_url=False, include_input=False)[0]
    message = escape_control(first["msg"].removeprefix("Value error, "))
    line = f"{error_path(first['loc'])}: {message}"
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 3] + "..."
