"""The sandbox's own admin API (not part of the back end's contract): set the clock, inject
faults. Only there when the sandbox has an admin token, and only for that token."""

from __future__ import annotations

import datetime as dt
from typing import Self

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from passerelle.backend.models import FieldError
from passerelle.sandbox.deps import Admin, SandboxDep
from passerelle.sandbox.errors import SandboxProblem
from passerelle.sandbox.faults import Faults
from passerelle.sandbox.state import ClockNotSettableError, Sandbox

__all__ = ["ClockChange", "ClockState", "FaultState", "router"]

router = APIRouter(prefix="/_sandbox", dependencies=[Admin], include_in_schema=False)


# The sandbox works out dates from its clock (installments up to two years on, the next weekday,
# cutoffs): keeping the clock within these leaves every such date room to exist.
_EARLIEST = dt.datetime(1970, 1, 1)
_LATEST = dt.datetime(9000, 1, 1)
_MAX_ADVANCE = 100 * 366 * 86_400
_RANGE = f"between {_EARLIEST.date()} and {_LATEST.date()}"


class ClockChange(BaseModel):
    """Exactly one of: stop the clock `at` a time, `advance` it by seconds, or `release` it to
    follow the system clock again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime | None = None
    advance_seconds: int | None = Field(default=None, ge=0, le=_MAX_ADVANCE)
    release: bool = False

    @field_validator("at")
    @classmethod
    def _in_range(cls, at: dt.datetime | None) -> dt.datetime | None:
        # Compared as local wall time: converting a time near the limits to UTC may overflow.
        if at is not None and not _EARLIEST <= at.replace(tzinfo=None) < _LATEST:
            raise ValueError(f"the clock must stay {_RANGE}")
        return at

    @model_validator(mode="after")
    def _one(self) -> Self:
        chosen = [self.at is not None, self.advance_seconds is not None, self.release]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of at, advance_seconds and release")
        return self


class ClockState(BaseModel):
    now: AwareDatetime
    stopped: bool


class FaultState(BaseModel):
    faults: Faults
    injected: int = Field(description="Faults injected since they were last set.")


def _clock_state(sandbox: Sandbox) -> ClockState:
    stopped = getattr(sandbox.clock, "is_set", True)
    return ClockState(now=sandbox.clock.now(), stopped=bool(stopped))


@router.get("/clock")
def get_clock(sandbox: SandboxDep) -> ClockState:
    return _clock_state(sandbox)


@router.post("/clock")
def set_clock(change: ClockChange, sandbox: SandboxDep) -> ClockState:
    try:
        if change.at is not None:
            sandbox.set_clock(change.at)
        elif change.advance_seconds is not None:
            by = dt.timedelta(seconds=change.advance_seconds)
            if (sandbox.clock.now() + by).replace(tzinfo=None) >= _LATEST:
                message = f"the clock must stay {_RANGE}"
                raise SandboxProblem(
                    "validation_failed",
                    f"invalid request: advance_seconds: {message}",
                    errors=(FieldError(field="advance_seconds", message=message),),
                )
            sandbox.advance_clock(by)
        else:
            sandbox.release_clock()
    except ClockNotSettableError as exc:
        raise SandboxProblem("validation_failed", str(exc)) from None
    return _clock_state(sandbox)


@router.get("/faults")
def get_faults(sandbox: SandboxDep) -> FaultState:
    return FaultState(faults=sandbox.faults.faults, injected=sandbox.faults.injected)


@router.post("/faults")
def set_faults(faults: Faults, sandbox: SandboxDep) -> FaultState:
    sandbox.set_faults(faults)
    return FaultState(faults=sandbox.faults.faults, injected=sandbox.faults.injected)
