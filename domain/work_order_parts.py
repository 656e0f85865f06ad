"""Part-line commands of a work order: supply, issue, return, withdraw, move, carry over."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.common import Audit, InvalidInput, require, require_reason
from domain.work_order_lines import priced
from domain.work_order_state import ACTIVE, WorkOrderError, WorkOrderState


class WorkOrderParts(WorkOrderState):
    """The part-line commands of `WorkOrder`: each checks, then calls its event method."""

    # -- parts: supply, issue, return, withdraw, move to a follow-on work order --------------

    def can_take_issues(self, line: dict[str, Any]) -> bool:
        """An approved part line lacking units whose job is still open (not past QC)."""
        return (line["status"] == "approved" and line["issued_qty"] < line["qty"]
                and self.status in ACTIVE and self.jobs[line["job_no"]]["status"] != "passed")

    def part_line(self, line_id: str) -> dict[str, Any]:
        line = self.line(line_id)
        require(line["kind"] == "part", InvalidInput(f"line {line_id} is not a part line"))
        return line

    @staticmethod
    def stock_key(work_order_id: UUID, line_id: str) -> str:
        """How the stock item names this line's reservation and issues."""
        return f"{work_order_id}:{line_id}"

    def note_supply(self, audit: Audit, line_id: str, supply: str, reserved_qty: Decimal,
                    available: Decimal) -> None:
        self._part_supply(audit, line_id, supply, reserved_qty, available)

    def check_issue(self, line_id: str, qty: Decimal) -> dict[str, Any]:
        line = self.part_line(line_id)
        self._require_open_job(line["job_no"])
        require(line["status"] == "approved",
                WorkOrderError(f"line {line_id} is {line['status']}, not approved"))
        left = line["qty"] - line["issued_qty"]
        require(left > 0, WorkOrderError(f"line {line_id} is fully issued: nothing is left to "
                                         "issue", outstanding="0"))
        if qty > left:
            raise WorkOrderError(f"line {line_id} needs only {left} more", outstanding=str(left))
        return line

    def record_issue(self, audit: Audit, line_id: str, qty: Decimal,
                     picks: list[dict[str, Any]], cost: Decimal) -> None:
        self.check_issue(line_id, qty)
        self._parts_issued(audit, line_id, qty, picks, cost)

    def check_return(self, line_id: str, qty: Decimal) -> dict[str, Any]:
        line = self.part_line(line_id)
        require(self.status in (*ACTIVE, "ready_for_settlement") and self.settlement is None,
                WorkOrderError(f"work order is {self.status}"
                               f"{' under settlement' if self.settlement else ''}; "
                               "its issues are frozen"))
        if qty > line["issued_qty"]:
            raise WorkOrderError(f"only {line['issued_qty']} was issued to line {line_id}",
                                 issued=str(line["issued_qty"]))
        counted = self.serial_count(line_id)
        if line["issued_qty"] - qty < counted:
            raise WorkOrderError(f"line {line_id} has serials recorded for {counted} part(s); "
                                 "correct them (with a reason) before returning parts",
                                 serials=counted)
        return line

    def record_return(self, audit: Audit, line_id: str, qty: Decimal,
                      picks: list[dict[str, Any]], cost: Decimal, reason: str) -> None:
        self.check_return(line_id, qty)
        self._parts_returned(audit, line_id, qty, picks, cost, reason)
        if self.status == "ready_for_settlement":
            self._back_in_progress(audit, f"parts returned from line {line_id}: {reason}")

    def withdraw_line(self, audit: Audit, line_id: str, reason: str | None) -> Decimal:
        """The customer no longer wants the part (or what is still missing of it)."""
        line = self.part_line(line_id)
        self._require_active()
        require(line["status"] == "approved",
                WorkOrderError(f"line {line_id} is {line['status']}, not approved"))
        withdrawn = line["qty"] - line["issued_qty"]
        require(withdrawn > 0, WorkOrderError(f"line {line_id} is fully issued; return it first"))
        kept = line["issued_qty"]
        new = priced({**line, "qty": kept}, line["unit_price"])
        self._line_withdrawn(audit, line_id, withdrawn, kept, new["gross"], new["vat"],
                             require_reason(reason, "withdrawing an approved line"))
        self._maybe_ready(audit)
        return withdrawn  # type: ignore[no-any-return]

    def lines_to_move(self, line_ids: list[str]) -> list[dict[str, Any]]:
        self._require_active()
        require(bool(line_ids), InvalidInput("name the lines to move"))
        lines = []
        for line_id in dict.fromkeys(line_ids):
            line = self.line(line_id)
            require(line["status"] == "approved",
                    WorkOrderError(f"line {line_id} is {line['status']}, not approved"))
            require(line.get("issued_qty", 0) == 0,
                    WorkOrderError(f"line {line_id} has issued parts; return them first"))
            lines.append(line)
        return lines

    def move_lines(self, audit: Audit, line_ids: list[str], follow_on_id: UUID,
                   follow_on_number: str, reason: str) -> None:
        self.lines_to_move(line_ids)
        self._lines_moved(audit, list(dict.fromkeys(line_ids)), follow_on_id, follow_on_number,
                          reason)
        self._maybe_ready(audit)

    def carry_over(self, audit: Audit, from_id: UUID, from_number: str,
                   lines: list[dict[str, Any]], reason: str) -> None:
        """Copy approved lines from the work order they were moved off (jobs by complaint)."""
        copied: list[dict[str, Any]] = []
        for line in lines:
            job_no = next(no for no, job in self.jobs.items()
                          if job["complaint"] == line["complaint"])
            copied.append({k: v for k, v in line.items() if k != "complaint"}
                          | {"line_id": f"L{len(self.lines) + len(copied) + 1}", "job_no": job_no,
                             "issued_qty": Decimal(0), "reserved_qty": Decimal(0),
                             "supply": "back_order" if line["kind"] == "part" else None,
                             "moved_from": from_number})
        self._lines_carried_over(audit, from_id, from_number, copied, reason)
