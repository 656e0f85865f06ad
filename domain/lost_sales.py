"""Lost-sale commands: the parts counter or the service desk records a part asked for and not
sold (api/auth.py `lost_sales.record`: parts clerk, advisor, manager); a manager voids a wrong
entry (`lost_sales.void`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid4

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import NotFound, NotPermitted, require, require_group_store
from domain.customer import Customer
from domain.lost_sale import LostSale
from domain.work_order import WorkOrder


class LostSales:
    def __init__(self, app: ServiceCore, stores: Iterable[str] = ()) -> None:
        self.app = app
        self.stores = frozenset(stores)

    def record(self, request: Request, store_id: str, *, part_number: object, qty: object,
               reason: object, work_order_id: UUID | None = None,
               customer_id: UUID | None = None, note: object = None) -> CommandResult:
        """A lost sale in `store_id`. A work order named is one of that store's (404
        otherwise, as an unknown one); a customer named is one the system knows (404). The
        part need not be in the part master (see domain/lost_sale.py)."""
        require_group_store(self.stores, store_id)
        require(request.caller.may_use(store_id), NotPermitted(
            f"your token does not cover store {store_id}", store_id=store_id))
        sale_id = uuid4()

        def decide(session: Session) -> Decision:
            if work_order_id is not None:
                order = session.find(WorkOrder, work_order_id)
                if order is None or order.store_id != store_id:
                    raise NotFound(f"work order {work_order_id} not found in store {store_id}",
                                   field="work_order_id")
            if customer_id is not None and session.find(Customer, customer_id) is None:
                raise NotFound(f"customer {customer_id} not found", field="customer_id")
            sale = LostSale.record(session.audit(store_id), part_number=part_number, qty=qty,
                                   reason=reason, work_order_id=work_order_id,
                                   customer_id=customer_id, note=note, id=sale_id)
            session.add(sale)
            answer: dict[str, Any] = {"store_id": store_id, "part_number": sale.part_number,
                                      "qty": str(sale.qty), "reason": sale.reason}
            return Decision(sale, answer)

        return self.app.execute(request, decide, (sale_id,))

    def void(self, request: Request, store_id: str, lost_sale_id: UUID, *,
             reason: str | None) -> CommandResult:
        """A wrong entry voided by a manager with a reason (domain/lost_sale.py): 404 for a
        lost sale that is not the store's (or not in the caller's stores), 409 the second
        time."""

        def decide(session: Session) -> Decision:
            sale = session.target(LostSale, lost_sale_id, "lost sale")
            require(sale.store_id == store_id, NotFound(
                f"lost sale {lost_sale_id} not found in store {store_id}"))
            audit = session.audit(store_id)
            sale.void(audit, reason)
            return Decision(sale, {"store_id": store_id, "part_number": sale.part_number,
                                   "qty": str(sale.qty), "reason": sale.reason,
                                   "voided_by": audit.user_id,
                                   "void_reason": (sale.voided or {}).get("reason")})

        return self.app.execute(request, decide, (lost_sale_id,))
