"""A lost COMMIT answer for the newer commands, over HTTP, as for the older families
(tests/integration/test_lost_acknowledgements_families.py): credit terms and a charge to
account, a write-off of what the OEM will not pay, a repair record's upload outcome, a
completion certificate, a labor operation registered and a visit imported from the previous
system. The save reaches the server and commits; its answer is cut off by the proxy; the client
retries with the same Idempotency-Key, on the same API process and on another: one effect, the
same answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from domain.on_account import OnAccount
from servicecore.container import Container
from tests.integration.audit_support import new_vin
from tests.integration.faults import FaultyProxy
from tests.integration.test_lost_acknowledgements import behind, proxy  # noqa: F401  (fixtures)
from tests.integration.test_lost_acknowledgements_families import Auth, Setup, applied_once
from tests.integration.test_money_support import draft, ready_visit, req, work_order

RATES = {"customer": "300.00", "warranty": "180.00", "insurance": "260.00", "internal": "150.00"}


def _terms(container: Container, store_id: str, customer_id: UUID) -> None:
    OnAccount(container.app, "Asia/Shanghai").set_terms(
        req(store_id, "manager"), customer_id, limit="50000.00", days=30, reason="fleet contract")


def credit_terms(container: Container, client: TestClient, auth: Auth, store_id: str
                 ) -> tuple[str, str, dict[str, Any], str]:
    customer_id = work_order(container, ready_visit(container, store_id)).customer_id
    return ("manager", f"/customers/{customer_id}/credit-terms",
            {"limit": "20000.00", "days": 45, "reason": "fleet contract"},
            f"Customer.CreditTermsSet|{customer_id}")


def charge_to_account(container: Container, client: TestClient, auth: Auth, store_id: str
                      ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id = ready_visit(container, store_id)
    _terms(container, store_id, work_order(container, work_order_id).customer_id)
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    return ("cashier", f"/settlements/{settlement_id}/charge-to-account", {},
            f"Settlement.ChargedToAccount|{settlement_id}")


def _settled(container: Container, store_id: str, *, warranty: bool = False) -> tuple[UUID, UUID]:
    work_order_id = ready_visit(container, store_id, warranty=warranty)
    settlement_id = draft(container, store_id, work_order_id)
    confirmed = container.settlements.confirm(req(store_id), settlement_id).body
    container.settlements.pay(req(store_id), work_order_id=work_order_id, method="bank_card",
                              amount=Decimal(confirmed["bills"]["customer"]["outstanding"]),
                              provider_ref=f"POS-{uuid4().hex[:8]}")
    return work_order_id, settlement_id


def write_off(container: Container, client: TestClient, auth: Auth, store_id: str
              ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id, settlement_id = _settled(container, store_id, warranty=True)
    clerk = auth("advisor", "warranty-clerk", [store_id])
    claim = f"/work-orders/{work_order_id}/warranty-claim"
    assert client.post(f"{claim}/submission", headers=clerk,
                       json={"oem_claim_number": f"VW-{uuid4().hex[:8]}"}).status_code == 201
    assert client.post(f"{claim}/rejection", headers=clerk, json={
        "reason_code": "R-40", "reason": "repair record missing"}).status_code == 200
    return ("manager", f"/settlements/{settlement_id}/write-off",
            {"kind": "oem_rejected", "reason": "final rejection, appeal window closed"},
            f"Settlement.ReceivableWrittenOff|{settlement_id}")


def filing(container: Container, client: TestClient, auth: Auth, store_id: str
           ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id, _ = _settled(container, store_id)
    error = f"upload timed out {uuid4().hex[:8]}"
    return ("advisor", f"/work-orders/{work_order_id}/repair-record/filing",
            {"outcome": "failed", "error": error}, f"RepairFiling.Failed|{error}")


def certificate(container: Container, client: TestClient, auth: Auth, store_id: str
                ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id = ready_visit(container, store_id)
    return ("manager", f"/work-orders/{work_order_id}/completion-certificate",
            {"cert_no": f"JG-{uuid4().hex[:10]}"},
            f"WorkOrder.CompletionCertified|{work_order_id}")


def labor_operation(container: Container, client: TestClient, auth: Auth, store_id: str
                    ) -> tuple[str, str, dict[str, Any], str]:
    description = f"replace front brake pads {uuid4().hex[:8]}"
    return ("manager", "/labor-operations",
            {"store_id": store_id, "op_code": "BRK-PAD", "description": description,
             "flat_rate_hours": "1.5", "rates": RATES},
            f"LaborOperation.Registered|{description}")


def prior_visit(container: Container, client: TestClient, auth: Auth, store_id: str
                ) -> tuple[str, str, dict[str, Any], str]:
    ref = f"DMS-{uuid4().hex[:10]}"
    return ("manager", f"/vehicles/{new_vin()}/prior-visits",
            {"store_id": store_id, "source_ref": ref, "date_in": "2021-06-03",
             "mileage_in": 30_120, "kind": "maintenance"},
            f"Vehicle.PriorVisitImported|{ref}")


@pytest.mark.parametrize("setup", [credit_terms, charge_to_account, write_off, filing,
                                   certificate, labor_operation, prior_visit])
def test_a_lost_commit_answer_of_a_newer_command_is_applied_once_and_replayed(
        setup: Setup, behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    applied_once(setup, behind, proxy, container, client, database_url, store_id, auth)
