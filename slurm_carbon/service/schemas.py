"""The ingest API's request body, validated strictly, and its errors in one line.

A batch is refused whole when any field is wrong; :func:`first_error` names the
first bad field by its path, e.g. ``intervals[3].energy_j: Input should be
greater than or equal to 0``. Strict mode: no "123" for 123, no 1.0 for a job
id, no Unix time for a datetime; unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from slurm_carbon.store import (
    DeviceKind,
    EnergyMethod,
    ReportedDevice,
    ReportedInterval,
    Sharing,
)

__all__ = ["MAX_INTERVALS", "Batch", "DeviceIn", "IntervalIn", "error_path", "first_error"]

MAX_INTERVALS = 10_000
_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1

# Lengths are the columns' (store/models.py), so a valid body always fits.
ClusterName = Annotated[str, Field(min_length=1, max_length=64)]
Hostname = Annotated[str, Field(min_length=1, max_length=255)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DeviceIn(_Strict):
    """A measured device, named by its UUID on the node (NVML UUID, RAPL domain)."""

    uuid: str = Field(min_length=1, max_length=96)
    kind: DeviceKind
    model: str | None = Field(default=None, max_length=128)
    minor: int | None = Field(default=None, ge=0, le=_INT32_MAX)


class IntervalIn(_Strict):
    """Energy one device used for one job over ``[start, end)``. Units: joules."""

    job_id: int = Field(gt=0, le=_INT64_MAX)
    device: DeviceIn
    start: AwareDatetime
    end: AwareDatetime
    energy_j: float = Field(ge=0, allow_inf_nan=False)
    method: EnergyMethod
    sharing: Sharing

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        return end

    def to_store(self) -> ReportedInterval:
        """The interval as the store takes it."""
        return ReportedInterval(
            slurm_job_id=self.job_id,
            device=ReportedDevice(
                uuid=self.device.uuid,
                kind=self.device.kind,
                model=self.device.model,
                minor=self.device.minor,
            ),
            start=self.start,
            end=self.end,
            energy_j=self.energy_j,
            method=self.method,
            sharing=self.sharing,
        )


class Batch(_Strict):
    """``POST /api/v1/intervals``: one node's intervals, reported by that node."""

    cluster: ClusterName
    node: Hostname
    intervals: list[IntervalIn] = Field(max_length=MAX_INTERVALS)


def error_path(loc: tuple[int | str, ...]) -> str:
    """``("intervals", 3, "energy_j")`` -> ``intervals[3].energy_j``; ``()`` -> ``body``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path or "body"


def first_error(error: ValidationError) -> str:
    """The first error of a validation, as ``<path>: <message>``."""
    first = error.errors(include_url=False, include_input=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    return f"{error_path(first['loc'])}: {message}"
