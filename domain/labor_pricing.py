"""A labor line priced from the store's labor-operation master (domain/labor_operation.py).

A labor line whose op code is in the master of the work order's store:
- takes the master's description, flat-rate hours and the rate of its pay type where the
  request leaves them out, and the master's spelling of the op code;
- with hours or an hourly rate that differ from the master's is a price override: only the
  manager role may make one (any other role: 403 not-permitted, nothing stored), and only
  with `price_override_reason` (422 without), which the line records;
- records what the master said when it was added, in `labor_operation` (flat-rate hours, the
  rate of its pay type, the skill and level, the master's version), and
  `price_override_reason` (None when it follows the master). A later change of the master
  changes neither: a line keeps the price it was added with;
- of an operation withdrawn from the master (active false) is refused (409).
A line whose op code is not in the store's master is taken as typed, as before the master
(a `price_override_reason` on it is 422: there is no master price to override). Repricing a
line that recorded the master's rate to another rate is an override too (`check_reprice`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.application import Session
from domain.common import InvalidInput, NotPermitted, require, require_reason
from domain.labor_operation import LaborOperation, LaborOperationError, op_code_or_none
from domain.money import money, quantity
from domain.work_order_lines import PAY_TYPES, labor_line

OVERRIDE_ROLE = "manager"
REASON = "price_override_reason"
_MASTER = "_labor_operation"  # what `from_master` hands `priced_labor_line`, not a body field


def master_operation(session: Session, store_id: str, op_code: object) -> LaborOperation | None:
    code = op_code_or_none(op_code)
    return None if code is None else session.find(
        LaborOperation, LaborOperation.create_id(store_id, code))


def _no_reason(data: Mapping[str, Any], why: str) -> None:
    require(data.get(REASON) is None, InvalidInput(
        f"{REASON} is only for a line priced off the labor-operation master: {why}",
        field=REASON))


def from_master(session: Session, store_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The line's request completed from the master, or refused (module docstring)."""
    operation = master_operation(session, store_id, data.get("op_code"))
    pay_type = data.get("pay_type") or "customer"
    if operation is None or pay_type not in PAY_TYPES:  # labor_line refuses the pay type
        _no_reason(data, f"op code {data.get('op_code')} is not in store {store_id}'s master")
        return {k: v for k, v in data.items() if k != REASON}
    require(operation.active, LaborOperationError(
        f"labor operation {operation.op_code} is withdrawn from store {store_id}'s master",
        op_code=operation.op_code))
    master_rate = operation.rates[pay_type]
    hours = operation.flat_rate_hours if data.get("hours") is None else quantity(
        data["hours"], "flat-rate hours", field="hours")
    rate = master_rate if data.get("hourly_rate") is None else money(
        data["hourly_rate"], "hourly rate", field="hourly_rate")
    differs = [f"{name} {given} (the master's {master})" for name, given, master in (
        ("hours", hours, operation.flat_rate_hours), ("hourly_rate", rate, master_rate))
        if given != master]
    reason = None
    if differs:
        require(session.caller.role == OVERRIDE_ROLE, NotPermitted(
            f"{operation.op_code} is priced by the labor-operation master: "
            f"{'; '.join(differs)}; a price override needs the {OVERRIDE_ROLE} role",
            op_code=operation.op_code))
        reason = require_reason(data.get(REASON), "a price off the labor-operation master",
                                field=REASON)
    else:
        _no_reason(data, f"the line follows the master's price of {operation.op_code}")
    recorded = {"flat_rate_hours": operation.flat_rate_hours, "hourly_rate": master_rate,
                "skill": operation.skill, "level": operation.level,
                "version": operation.version}
    return {**{k: v for k, v in data.items() if k != REASON},
            "op_code": operation.op_code, "hours": hours, "hourly_rate": rate,
            "description": data.get("description") or operation.description,
            _MASTER: {"labor_operation": recorded, REASON: reason}}


def priced_labor_line(line_id: str, job_no: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """`labor_line`, with what the master said where the master priced it."""
    line = labor_line(line_id, job_no, data)
    return {**line, **data[_MASTER]} if data.get(_MASTER) else line


def check_reprice(role: str, line: Mapping[str, Any], unit_price: object,
                  reason: str | None) -> None:
    """A labor line that recorded the master's rate, repriced to another: the manager's, with
    a reason (as when it was added)."""
    recorded = line.get("labor_operation")
    if line.get("kind") != "labor" or not recorded:
        return
    price = money(unit_price, "unit price", field="unit_price")
    if price == Decimal(str(recorded["hourly_rate"])):
        return
    require(role == OVERRIDE_ROLE, NotPermitted(
        f"line {line['line_id']} ({line['op_code']}) is priced by the labor-operation master "
        f"at {recorded['hourly_rate']} an hour; a price override needs the {OVERRIDE_ROLE} "
        "role", line_id=line["line_id"]))
    require_reason(reason, "a price off the labor-operation master")
