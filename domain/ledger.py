"""Double-entry journal entries: the chart of accounts the service department posts to.

An entry is a list of postings (account, debit, credit) that must balance to the fen; entries
travel inside the events that cause them (a settlement, a payment, a refund, a reversal), so the
ledger is a projection of facts that were saved together with their cause.
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
    "1405": "parts inventory",
    "2221": "VAT payable (output)",
    "6001": "labor revenue",
    "6002": "parts revenue",
    "6003": "sales allowances (contra revenue)",
    "6401": "cost of parts sold",
    "6602": "internal service charges",
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
