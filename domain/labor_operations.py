"""Labor-operation master commands: register an operation, change it with a reason (the
manager role, api/auth.py `labor_operations.manage`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import (
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    require,
    require_group_store,
    require_reason,
)
from domain.labor_operation import (
    LaborOperation,
    description_of,
    flat_rate_hours,
    normalise_op_code,
    rates_of,
    skill_of,
)

CHANGEABLE = ("description", "flat_rate_hours", "rates", "skill", "level", "active")


class LaborOperations:
    def __init__(self, app: ServiceCore, stores: Iterable[str] = ()) -> None:
        self.app = app
        self.stores = frozenset(stores)

    def _store(self, request: Request, store_id: str) -> None:
        require_group_store(self.stores, store_id)
        require(request.caller.may_use(store_id), NotPermitted(
            f"your token does not cover store {store_id}", store_id=store_id))

    def register(self, request: Request, *, store_id: str, op_code: object,
                 description: object, flat_rate_hours_: object, rates: object,
                 skill: str | None = None, level: int | None = None) -> CommandResult:
        self._store(request, store_id)
        code = normalise_op_code(op_code)
        text = description_of(description)
        hours = flat_rate_hours(flat_rate_hours_)
        priced = rates_of(rates)
        needs = skill_of(code, skill, level)
        stream = LaborOperation.create_id(store_id, code)

        def decide(session: Session) -> Decision:
            if session.find(LaborOperation, stream) is not None:
                raise IllegalTransition(
                    f"labor operation {code} is already in store {store_id}'s master",
                    op_code=code, store_id=store_id)
            operation = LaborOperation(
                audit=session.audit(store_id), store_id=store_id, op_code=code,
                description=text, flat_rate_hours=hours, rates=priced, skill=needs[0],
                level=needs[1], id=stream)
            session.add(operation)
            return Decision(operation, {"op_code": code, "store_id": store_id})

        return self.app.execute(request, decide, (stream,))

    def change(self, request: Request, store_id: str, op_code: str,
               changes: Mapping[str, Any], *, reason: str | None) -> CommandResult:
        """The fields given (None: left as they are); at least one, and the reason."""
        self._store(request, store_id)
        code = normalise_op_code(op_code)
        given = {k: v for k, v in changes.items() if k in CHANGEABLE and v is not None}
        require(bool(given), InvalidInput(
            f"give at least one of {', '.join(CHANGEABLE)} to change", field="body"))
        wanted: dict[str, Any] = {}
        if "description" in given:
            wanted["description"] = description_of(given["description"])
        if "flat_rate_hours" in given:
            wanted["flat_rate_hours"] = flat_rate_hours(given["flat_rate_hours"])
        if "rates" in given:
            wanted["rates"] = rates_of(given["rates"], partial=True)
        if "skill" in given or "level" in given:
            wanted["skill"], wanted["level"] = skill_of(code, given.get("skill"),
                                                        given.get("level"))
        if "active" in given:
            require(isinstance(given["active"], bool), InvalidInput(
                "active is true or false", field="active"))
            wanted["active"] = given["active"]
        why = require_reason(reason, "changing a labor operation")
        stream = LaborOperation.create_id(store_id, code)

        def decide(session: Session) -> Decision:
            operation = session.target(
                LaborOperation, stream, f"labor operation {code} of store {store_id}")
            changed = operation.change(session.audit(store_id), wanted, why)
            return Decision(operation, {"op_code": code, "store_id": store_id,
                                        "changed": sorted(changed)})

        return self.app.execute(request, decide, (stream,))
