"""What exactly was sent to the OEM, months later: each submission and resubmission records the
claim package's digest and the moment it was built; `?as_of=` rebuilds the package as it stood
then, whatever was changed since (a reversed and re-confirmed settlement here), and
/submissions says whether that rebuilt package still has the digest recorded — a digest that
does not belong to the visit's package shows `matches: false`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from domain.oem_claims import OemClaims
from projections.claim_digest import digest, sent_package
from projections.evidence import one_snapshot
from servicecore import cli
from servicecore.container import Container
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.e2e.test_warranty_histories_api import settled_warranty_visit
from tests.scratch_systems import ServedScratch, served_module
from tests.unit.support import request

served, container, client = served_module("sc_claim_sent", projections=True)
AS_SENT_AGAIN = ("oem_claim", "evidence")  # the OEM's steps and their citations move on


def _package(client: TestClient, wo_id: str, headers: dict[str, str],
             **params: Any) -> dict[str, Any]:
    return get(client, f"/work-orders/{wo_id}/warranty-claim",  # type: ignore[no-any-return]
               headers, wait_for=head(client), **params)


def _but_the_oem(package: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in package.items() if k not in AS_SENT_AGAIN}


def test_each_submission_records_the_package_sent_and_the_as_of_package_still_has_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id, sid = settled_warranty_visit(client, auth, store_id)
    url = f"/work-orders/{wo_id}/warranty-claim"
    as_sent = _package(client, wo_id, auditor)
    post(client, f"{url}/submission", clerk, {"oem_claim_number": "VW-SENT-1"}, 201)
    # Afterwards the settlement is reversed and confirmed again: the live package moves on.
    post(client, f"/settlements/{sid}/reversal", manager, {"reason": "wrong pay type"})
    post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    post(client, f"/settlements/{sid}/confirmation", cashier)
    live = _package(client, wo_id, auditor)
    assert live["settlement"]["number"] != as_sent["settlement"]["number"]
    assert digest(live) != digest(as_sent)
    post(client, f"{url}/rejection", clerk, {"reason": "settlement number differs"})
    post(client, f"{url}/resubmission", clerk, {"changes": "the new settlement's number"})
    sent = get(client, f"{url}/submissions", auditor)
    assert [(s["step"], s["oem_claim_number"], s["claimed"], s["by"], s["matches"])
            for s in sent["submissions"]] == [
        ("submitted", "VW-SENT-1", "150.00", "warranty-clerk", True),
        ("resubmitted", "VW-SENT-1", "150.00", "warranty-clerk", True)]
    first, again = sent["submissions"]
    # What was recorded is the digest of the package as it was read before the submission,
    # and of the live one at the resubmission.
    assert (first["package_digest"], again["package_digest"]) == (digest(as_sent),
                                                                  digest(live))
    assert first["package_position"] < again["package_position"]
    # The package as of the first submission is what was current then, not what is now.
    then = _package(client, wo_id, auditor, as_of=first["package_at"])
    assert _but_the_oem(then) == _but_the_oem(as_sent)
    assert then["settlement"] != _package(client, wo_id, auditor)["settlement"]
    assert then["oem_claim"]["status"] == "submitted"  # the OEM's steps up to then
    # A moment before the visit was opened has no package.
    before = client.get(url, headers=auditor, params={"as_of": "2020-01-01"})
    assert before.status_code == 404, before.text


def test_a_digest_that_is_not_the_visits_package_does_not_match(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    forged_id, _ = settled_warranty_visit(client, auth, store_id)
    unrecorded_id, _ = settled_warranty_visit(client, auth, store_id)
    # the views the package reads (part serials, failed parts) have caught up
    get(client, f"/work-orders/{forged_id}/warranty-claim", auditor, wait_for=head(client))
    with container.pool.connection() as conn, one_snapshot(conn):
        real = sent_package(container.app, conn, UUID(forged_id), [store_id],
                            terms=container.warranty_terms,
                            zone=ZoneInfo(container.settings.store_timezone))
    forged = replace(real, digest="0" * 64)
    clerk = request("advisor", "forger", at=datetime.now(UTC), stores=(store_id,))
    claims = OemClaims(container.app)
    claims.submit(clerk, UUID(forged_id), oem_claim_number="VW-FORGED",
                  package=lambda: forged)
    claims.submit(clerk, UUID(unrecorded_id), oem_claim_number="VW-OLD")  # as before digests
    [sent] = get(client, f"/work-orders/{forged_id}/warranty-claim/submissions",
                 auditor)["submissions"]
    assert (sent["oem_claim_number"], sent["package_digest"], sent["matches"]) == (
        "VW-FORGED", "0" * 64, False)
    [old] = get(client, f"/work-orders/{unrecorded_id}/warranty-claim/submissions",
                auditor)["submissions"]
    assert (old["package_digest"], old["package_at"], old["matches"]) == (None, None, None)


def test_the_command_line_writes_the_package_as_it_was_sent(
        served: ServedScratch, client: TestClient, auth: Auth, store_id: str,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`servicecore audit warranty-claim --as-of` is the route's `?as_of=`: the file of the
    package at its submission has the digest recorded then, whatever changed since."""
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = settled_warranty_visit(client, auth, store_id)
    url = f"/work-orders/{wo_id}/warranty-claim"
    _package(client, wo_id, auth("auditor", "aud-" + store_id, [store_id]))
    post(client, f"{url}/submission", clerk, {"oem_claim_number": "VW-CLI-1"}, 201)
    post(client, f"/settlements/{sid}/reversal", manager, {"reason": "wrong pay type"})
    post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    post(client, f"/settlements/{sid}/confirmation", cashier)
    [sent] = get(client, f"{url}/submissions", auth("auditor", stores=[store_id]))["submissions"]
    monkeypatch.setenv("DATABASE_URL", served.app_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_POOL_SIZE", "2")

    def written(*args: str) -> dict[str, Any]:
        assert cli.main(["audit", "warranty-claim", wo_id, *args]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    assert digest(written("--as-of", sent["package_at"])) == sent["package_digest"]
    assert digest(written()) != sent["package_digest"]  # the live package moved on
    assert cli.main(["audit", "warranty-claim", wo_id, "--as-of", "yesterday noon"]) == 1
    assert "as_of must be a day" in capsys.readouterr().err
