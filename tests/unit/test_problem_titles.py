"""Every problem type has one title for people (api/errors.py TITLES), wherever it is answered."""

from __future__ import annotations

import importlib
import json
import pkgutil

import pytest

import domain
import projections
from api.auth import AuthError, Principal, authorize
from api.errors import INVALID_HTTP, TITLES, title_of
from domain.common import DomainError
from servicecore.server import HEAD_TOO_LARGE


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_every_kind_of_domain_refusal_has_a_title_in_the_table() -> None:
    for package in (domain, projections):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    kinds = {cls.kind for cls in _subclasses(DomainError) | {DomainError}}
    assert {"invalid-input", "not-found", "illegal-transition", "not-settled"} <= kinds
    assert kinds - TITLES.keys() == set()


def test_a_title_is_fixed_by_the_type_alone() -> None:
    assert title_of("invalid-input") == "Invalid input"
    assert title_of("http-404") == "Not Found" and title_of("http-400") == "Bad Request"
    assert title_of("http-999") == "Http 999"
    assert title_of("something-new") == "Something new"
    # The server's own answers (before any route) use the same table: a head and a body over
    # their limits are one type with one title.
    assert json.loads(HEAD_TOO_LARGE)["title"] == title_of("too-large") == "Request too large"
    assert json.loads(INVALID_HTTP)["title"] == title_of("http-400")


def test_a_refused_role_is_told_who_may() -> None:
    clerk = Principal("clerk-zhou", "parts_clerk", ("S01",))
    with pytest.raises(AuthError) as refused:
        authorize(clerk, "stock.approve")
    assert (refused.value.status, refused.value.detail) == (
        403, "role parts_clerk may not stock.approve; that is for the manager role")
    with pytest.raises(AuthError) as refused:
        authorize(Principal("cash-wu", "cashier", ("S01",)), "stock.audit")
    assert refused.value.detail.endswith(
        "that is for the auditor, finance, manager or parts_clerk roles")
