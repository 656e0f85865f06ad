"""Double-entry journal entries: the chart of accounts the service department posts to.

An entry is a list of postings (account, debit, credit) that must balance to the fen; entries
travel inside the events that cause them (a settlement, a payment, a refund, a reversal), so the
ledger is a projection of facts that were saved together with their cause.

Stock movements are the exception that proves the rule: a stock event already holds every
figure of its entry (the quantities and lot costs it moved), so the finance view derives the
entry from the event with `stock_movement` (projections/finance_stock.py) and books the whole
stock history, events stored before the entries existed included. Parts inventory (1405) holds,
per store, each stock item's lot value rounded to the fen (the stock valuation's `fifo_value`):

- a receipt is owed to the supplier (Dr 1405 / Cr 2202), a return to the supplier the reverse;
- an issue moves the parts to the open work order (Dr 1408 / Cr 1405) at the issue's cost, a
  return from the job the reverse; the settlement takes the job's cost to cost of parts sold
  (Dr 6401 / Cr 1408) and a reversal puts it back (a settlement stored while it credited 1405,
  before issues were booked, is read as crediting 1408);
- scrap and stocktake differences are approved in the stock commands (a manager's decision
  above the thresholds), so they are booked final, straight to stock losses (6711; a stocktake
  gain credits it), not to the pending account 1901, which stays the cashier's;
- a transfer leaves the sender for its parts in transit (Dr 1406 / Cr 1405); when the receiver
  books it in, the receiver holds it against the inter-store account (Dr 1405 / Cr 1221) and the
  sender's transit clears into it (Dr 1221 / Cr 1406), so each store's entries balance and the
  group's 1221 nets to zero;
- where a movement's own amount (the receipt's quantity × unit cost, an issue's cost) and the
  change of the item's rounded lot value differ by rounding, the fen goes to 6401.

The demo's opening stock is its first delivery per store: a receipt like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from domain.common import DomainError

ZERO = Decimal("0.00")

ACCOUNTS = {
    "1001": "cash on hand",
    "1002": "bank (cards, transfers)",
    "1012": "WeChat Pay clearing",
    "1013": "Alipay clearing",
    "1122": "customer receivable",
    "1123": "warranty receivable (OEM)",
    "1124": "insurance receivable",
    "1901": "cash over and short (pending)",
    "1221": "inter-store current account",
    "1405": "parts inventory",
    "1406": "parts in transit between stores",
    "1408": "parts issued to open work orders",
    "2202": "accounts payable (goods received)",
    "2221": "VAT payable (output)",
    "2241": "other payables (warranty claims charged back by the OEM)",
    "6001": "labor revenue",
    "6002": "parts revenue",
    "6003": "sales allowances (contra revenue)",
    "6401": "cost of parts sold",
    "6601": "claim losses (warranty and insurance receivables written off)",
    "6602": "internal service charges",
    "6711": "stock losses (scrap, stocktake differences)",
}
METHOD_ACCOUNTS = {"cash": "1001", "bank_card": "1002", "bank_transfer": "1002",
                   "wechat_pay": "1012", "alipay": "1013"}
BILL_ACCOUNTS = {"customer": "1122", "warranty": "1123", "insurance": "1124",
                 "internal": "6602"}


class UnbalancedEntry(DomainError):
    """A journal entry whose debits and credits differ: a programming error, never stored."""


def posting(account: str, debit: Decimal = ZERO, credit: Decimal = ZERO) -> dict[str, Any]:
    assert account in ACCOUNTS, account
    return {"account": account, "debit": debit, "credit": credit}


def entry(memo: str, postings: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A balanced entry; zero postings are dropped, an unbalanced one raises."""
    lines = [p for p in postings if p["debit"] or p["credit"]]
    debit = sum((p["debit"] for p in lines), ZERO)
    credit = sum((p["credit"] for p in lines), ZERO)
    if debit != credit:
        raise UnbalancedEntry(f"entry '{memo}' does not balance: {debit} != {credit}")
    return {"memo": memo, "postings": lines, "total": debit}


def cash_variance(variance: Decimal, memo: str) -> list[dict[str, Any]]:
    """A day-end's counted-minus-expected cash: short, the drawer's cash leaves cash on hand
    for the pending account; over, the other way (no entry when they agree)."""
    if not variance:
        return []
    short, over = max(-variance, ZERO), max(variance, ZERO)
    return [entry(memo, [posting("1901", debit=short, credit=over),
                         posting("1001", debit=over, credit=short)])]


def signed(account: str, amount: Decimal) -> dict[str, Any]:
    """A posting of a signed amount: positive a debit, negative a credit."""
    return posting(account, debit=max(amount, ZERO), credit=max(-amount, ZERO))


# What a stock movement's value moves against: the supplier, the work order, the loss
# account, the transit, the other store.
STOCK_COUNTER = {"receipt": "2202", "return_to_supplier": "2202", "issue": "1408",
                 "return_from_job": "1408", "scrap": "6711", "stocktake": "6711",
                 "transfer_out": "1406", "transfer_in": "1221"}


def stock_movement(kind: str, booked: Decimal, own: Decimal, memo: str) -> list[dict[str, Any]]:
    """The entry of one stock movement at one store (none when it moves no value).

    `booked` is the change of parts inventory (1405; positive: into stock), `own` what the
    movement says it is worth in the same direction, which the counter-account takes; their
    difference is rounding and goes to cost of parts sold (6401)."""
    made = entry(memo, [signed("1405", booked), signed(STOCK_COUNTER[kind], -own),
                        signed("6401", own - booked)])
    return [made] if made["postings"] else []


def settlement_account(account: str) -> str:
    """The account a settlement's posting is booked to: a settlement stored while it credited
    parts inventory (1405) with the job's cost, before issues were booked, took it from the
    parts issued to the job (1408), and a reversal of it puts it back there. The finance view
    and the settlement's `as_of` replay both read stored entries through this."""
    return "1408" if account == "1405" else account


def settlement_entries(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A settlement's stored entries as they are booked (`settlement_account`)."""
    return [{**one, "postings": [{**p, "account": settlement_account(p["account"])}
                                 for p in one["postings"]]} for one in entries]


def reversal(original: dict[str, Any], memo: str) -> dict[str, Any]:
    return entry(memo, [posting(p["account"], p["credit"], p["debit"])
                        for p in original["postings"]])


def balances(entries: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    """Debit-minus-credit per account over the entries."""
    result: dict[str, Decimal] = {}
    for one in entries:
        for p in one["postings"]:
            result[p["account"]] = result.get(p["account"], ZERO) + p["debit"] - p["credit"]
    return result
