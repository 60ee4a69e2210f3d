"""Decisions on the launch: the gate's verdict per interval and reviewers' verdicts on success criteria."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from launch_control.store.connection import Repository, new_id
from launch_control.store.schema import gate_decisions, jsonable, utcnow, verdicts


class DecisionRecords(Repository):
    """Gate decisions and reviewers' verdicts of one launch."""

    def record_decision(
        self,
        verdict: str,
        reason: str,
        *,
        step: int | None = None,
        weight: float | None = None,
        severity: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        with self._tx() as conn:
            result = conn.execute(
                gate_decisions.insert().values(
                    launch_id=self.launch_id,
                    at=at or utcnow(),
                    step=step,
                    weight=weight,
                    verdict=verdict,
                    reason=reason,
                    severity=severity,
                    details=jsonable(dict(details or {})),
                )
            )
            return new_id(result)

    def decisions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Gate decisions, oldest first (the last ``limit`` when given)."""
        query = gate_decisions.select().where(gate_decisions.c.launch_id == self.launch_id)
        query = query.order_by(gate_decisions.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)][::-1]

    def record_verdict(
        self, criterion_id: str, verdict: str, actor: str, *, note: str = "", value: float | None = None
    ) -> None:
        if verdict not in ("pass", "fail", "pending"):
            raise ValueError(f"verdict must be pass, fail or pending (got {verdict!r})")
        with self._tx() as conn:
            now = utcnow()
            conn.execute(
                verdicts.insert().values(
                    launch_id=self.launch_id,
                    criterion_id=criterion_id,
                    verdict=verdict,
                    value=value,
                    note=note,
                    actor=actor,
                    at=now,
                )
            )
            self._audit_in(
                conn,
                actor,
                "criterion.verdict",
                {"criterion": criterion_id, "verdict": verdict, "note": note, "value": value},
                at=now,
            )

    def verdicts(self) -> dict[str, dict[str, Any]]:
        """criterion id → latest reviewer verdict."""
        return self._latest(verdicts, "criterion_id")
