"""The labor-operation master: one stream per store and op code.

A labor operation is what the workshop sells by the flat-rate hour: its op code ("BRK-PAD"),
a description, the flat-rate hours the OEM's (or the store's) labor time guide gives it, the
hourly rate per pay type (the customer's door rate, the OEM's warranty rate, the insurers'
rate, the store's internal rate), the workshop skill and level it needs, and whether it is
still sold. It is the store's: rates differ from store to store, and a store may sell an
operation its neighbour does not. Every change is an event with who and why; a change never
touches a line already on a work order (the line records the master's figures as it found
them, domain/labor_pricing.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ascii_width import code_form
from domain.common import Audit, IllegalTransition, InvalidInput, require, stable_id
from domain.money import money, quantity
from domain.skills import check_skill, skill_for_op_code
from domain.work_order_lines import PAY_TYPES

OP_CODE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,29}$")
MAX_DESCRIPTION = 500
MAX_HOURS = Decimal(1000)
MAX_RATE = Decimal(100_000)
FIELDS = ("description", "flat_rate_hours", "rates", "skill", "level", "active")


class LaborOperationError(IllegalTransition):
    pass


def normalise_op_code(value: object) -> str:
    """The op code as kept: full-width as ASCII, no blanks, upper case; letters, digits, '.',
    '_' and '-' (at most 30)."""
    code = code_form(value)
    require(bool(OP_CODE.match(code)), InvalidInput(
        "an op code has 1 to 30 letters, digits, '.', '_' or '-'", field="op_code"))
    return code


def op_code_or_none(value: object) -> str | None:
    """The op code as kept, or None for a value no master op code can be (a line's op code
    typed otherwise is simply not in the master)."""
    try:
        return normalise_op_code(value)
    except InvalidInput:
        return None


def flat_rate_hours(value: object) -> Decimal:
    hours = quantity(value, "flat-rate hours", field="flat_rate_hours")
    require(hours <= MAX_HOURS, InvalidInput(
        f"flat-rate hours are at most {MAX_HOURS}", field="flat_rate_hours"))
    return hours


def rates_of(value: object, *, partial: bool = False) -> dict[str, Decimal]:
    """The hourly rate (CNY, VAT included) per pay type: all four, or with `partial` those
    given."""
    given = value if isinstance(value, Mapping) else {}
    require(isinstance(value, Mapping), InvalidInput("rates is an object of pay types",
                                                     field="rates"))
    unknown = sorted(set(given) - set(PAY_TYPES))
    require(not unknown, InvalidInput(
        f"rates are per pay type: {', '.join(PAY_TYPES)} (not {', '.join(map(str, unknown))})",
        field="rates"))
    missing = [p for p in PAY_TYPES if given.get(p) is None]
    require(partial or not missing, InvalidInput(
        f"a rate for every pay type is required (missing {', '.join(missing)})",
        field="rates"))
    out = {}
    for pay_type in PAY_TYPES:
        if given.get(pay_type) is None:
            continue
        rate = money(given[pay_type], f"the {pay_type} rate", field=f"rates.{pay_type}")
        require(rate <= MAX_RATE, InvalidInput(
            f"an hourly rate is at most {MAX_RATE}", field=f"rates.{pay_type}"))
        out[pay_type] = rate
    return out


def description_of(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    require(bool(text), InvalidInput("description must not be blank", field="description"))
    require(len(text) <= MAX_DESCRIPTION, InvalidInput(
        f"description is at most {MAX_DESCRIPTION} characters", field="description"))
    return text


def skill_of(op_code: str, skill: str | None, level: int | None) -> tuple[str | None, int | None]:
    """The skill and level the operation needs: as given (both or neither), else what the
    op code's prefix names for dispatch (domain/skills.py), else none."""
    if skill is None and level is None:
        return skill_for_op_code(op_code) or (None, None)
    require(skill is not None and level is not None, InvalidInput(
        "give the skill and its level together", field="skill" if skill is None else "level"))
    assert skill is not None and level is not None
    try:
        check_skill(skill, level)
    except InvalidInput as refused:
        raise InvalidInput(str(refused), field="skill" if "skill" in str(refused) else "level"
                           ) from refused
    return skill, level


class LaborOperation(Aggregate):
    """One labor operation of a store's master."""

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        store_id: str
        op_code: str
        description: str
        flat_rate_hours: Decimal
        rates: dict[str, Decimal]
        skill: str | None
        level: int | None

    class Changed(Event):
        """What changed (only the fields that did), and why."""

        changes: dict[str, Any]
        reason: str

    @staticmethod
    def create_id(store_id: str, op_code: str) -> UUID:
        return stable_id("labor-operation", store_id, op_code)

    @event(Registered)
    def __init__(self, audit: Audit, store_id: str, op_code: str, description: str,
                 flat_rate_hours: Decimal, rates: dict[str, Decimal], skill: str | None,
                 level: int | None, id: UUID | None = None) -> None:
        self.store_id = store_id
        self.op_code = op_code
        self.description = description
        self.flat_rate_hours = flat_rate_hours
        self.rates = dict(rates)
        self.skill = skill
        self.level = level
        self.active = True

    def snapshot(self) -> dict[str, Any]:
        return {"op_code": self.op_code, "description": self.description,
                "flat_rate_hours": self.flat_rate_hours, "rates": dict(self.rates),
                "skill": self.skill, "level": self.level, "active": self.active}

    def change(self, audit: Audit, wanted: dict[str, Any], reason: str) -> dict[str, Any]:
        """Only what differs from the master as it stands is recorded; nothing: 409."""
        now = self.snapshot()
        changes: dict[str, Any] = {}
        for name, value in wanted.items():
            if name == "rates":
                rates = {p: r for p, r in value.items() if now["rates"].get(p) != r}
                if rates:
                    changes["rates"] = rates
            elif now[name] != value:
                changes[name] = value
        require(bool(changes), LaborOperationError(
            f"labor operation {self.op_code} already is as asked: nothing to change",
            op_code=self.op_code))
        self._changed(audit, changes, reason)
        return changes

    @event(Changed)
    def _changed(self, audit: Audit, changes: dict[str, Any], reason: str) -> None:
        for name, value in changes.items():
            if name == "rates":
                self.rates = {**self.rates, **value}
            else:
                setattr(self, name, value)
