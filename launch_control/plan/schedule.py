"""The plan's schedule sections: the launch timeline (clock entries and post-launch phases),
the checklist people sign off and the smoke tests run against the release.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from launch_control.plan.fields import (
    Duration,
    HttpStatus,
    Identifier,
    PositiveDuration,
    Strict,
    Url,
    no_duplicates,
)

# --- timeline, checklist, criteria ------------------------------------------------------------

TimelineAction = Literal[
    "preflight",
    "freeze_and_tag",
    "deploy_canary",
    "canary_ramp",
    "canary_step",
    "full_rollout",
    "post_launch_monitoring",
    "status_check",
    "manual",
]
TIMELINE_ACTIONS: tuple[str, ...] = get_args(TimelineAction)


class TimelineEntry(Strict):
    id: Identifier
    at: dt.time
    day: int = Field(default=0, ge=0, le=7, description="days after the launch date")
    title: str
    action: TimelineAction
    step: int | None = Field(default=None, ge=0, description="for canary_step: index into canary.steps")
    scheduled: bool = True

    @field_validator("at", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):  # YAML reads 08:30 as sexagesimal
            return dt.time(value // 60 % 24, value % 60)
        if isinstance(value, str) and not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
            raise ValueError(f"expected a clock time such as 09:30, got {value!r}")
        return value


class PostLaunchPhase(Strict):
    name: Identifier
    start: Duration
    end: Duration
    every: PositiveDuration

    @model_validator(mode="after")
    def _ordered(self) -> PostLaunchPhase:
        if self.end <= self.start:
            raise ValueError("end must come after start")
        if self.every <= 0:
            raise ValueError("every must be positive")
        return self


class Timeline(Strict):
    timezone: str
    date: dt.date | None = None
    entries: list[TimelineEntry] = Field(min_length=1)
    post_launch: list[PostLaunchPhase] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value

    @field_validator("entries")
    @classmethod
    def _unique_ids(cls, entries: list[TimelineEntry]) -> list[TimelineEntry]:
        no_duplicates([e.id for e in entries], "timeline entry")
        return entries

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def planned_at(self, entry: TimelineEntry, launch_date: dt.date | None = None) -> dt.datetime:
        """When ``entry`` is planned, as an aware datetime in the plan's zone."""
        day = launch_date or self.date or dt.datetime.now(self.tz).date()
        return dt.datetime.combine(day + dt.timedelta(days=entry.day), entry.at, tzinfo=self.tz)


class Check(Strict):
    """An automatic check of a checklist item."""

    type: Literal["http", "sql", "command", "smoke"]
    url: Url | None = None
    expect_status: HttpStatus = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None
    database_url: str | None = Field(default=None, description="default: the store's database")
    expect: Any = None
    run: str | None = None
    timeout: PositiveDuration = 10.0

    @model_validator(mode="after")
    def _has_target(self) -> Check:
        needed = {"http": "url", "sql": "query", "command": "run"}.get(self.type)
        if needed and not getattr(self, needed):
            raise ValueError(f"a {self.type} check needs {needed!r}")
        return self


class ChecklistItem(Strict):
    id: Identifier
    title: str
    owner: str
    group: str = ""
    check: Check | None = None


class Checklist(Strict):
    pre_launch: list[ChecklistItem] = Field(default_factory=list, alias="pre-launch")
    launch_day: list[ChecklistItem] = Field(default_factory=list, alias="launch-day")
    post_launch: list[ChecklistItem] = Field(default_factory=list, alias="post-launch")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> Checklist:
        no_duplicates([item.id for _, item in self.items()], "checklist item")
        return self

    def sections(self) -> list[tuple[str, list[ChecklistItem]]]:
        return [("pre-launch", self.pre_launch), ("launch-day", self.launch_day), ("post-launch", self.post_launch)]

    def items(self) -> list[tuple[str, ChecklistItem]]:
        return [(phase, item) for phase, items in self.sections() for item in items]

    def get(self, item_id: str) -> ChecklistItem | None:
        return next((item for _, item in self.items() if item.id == item_id), None)


class SmokeRequest(Strict):
    name: str
    method: Literal["GET", "POST", "PUT", "DELETE", "HEAD"] = "GET"
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    expect_status: HttpStatus = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    expect_fields: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SmokeTests(Strict):
    base_url: Url = "http://127.0.0.1:8080"
    timeout: PositiveDuration = 5.0
    requests: list[SmokeRequest] = Field(default_factory=list)
