"""The finance view with the insurer master in it equals its rebuild from event 0: the master's
rows and the names each insurer holds, after names were given, let go and taken again by
another insurer; and the receivables read from the rebuilt rows are the live ones, with the
bills settled before the insurer was registered grouped under it."""

from __future__ import annotations

import json
from uuid import UUID

from fastapi.testclient import TestClient

from domain.insurer import insurer_key
from domain.insurer_master import Insurer, InsurerError, InsurerName, InsurerNameTaken
from domain.insurers import Insurers
from domain.integration_events import IntegrationMapper
from projections.receivables import receivables
from servicecore.container import Container
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.e2e.test_receivables_insurers import settled_claim
from tests.integration.support import load, request, together
from workers.projection_rebuild import rebuild
from workers.view_verify import verify_view


def test_the_finance_view_with_the_master_equals_its_rebuild(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    chinese, english = f"中国平安{store_id}", f"Ping An {store_id}"
    settled_claim(client, auth, store_id, chinese, "ZG-1")  # before any master
    post(client, "/insurers", manager, {"code": "A" + store_id, "name": f"平安财产{store_id}",
                                        "short_name": chinese, "aliases": [english]}, 201)
    settled_claim(client, auth, store_id, english, "PA-1")
    # "Ping An" let go by one insurer and taken by another: its bills follow the name.
    post(client, f"/insurers/A{store_id}/aliases", manager,
         {"remove": [english], "reason": "a keying mistake"})
    post(client, "/insurers", manager, {"code": "B" + store_id, "name": f"平安保险{store_id}",
                                        "short_name": english}, 201)
    client.patch(f"/insurers/B{store_id}", headers=manager,
                 json={"name": f"平安保险集团{store_id}", "reason": "official name corrected"})
    post(client, f"/insurers/B{store_id}/deactivation", manager, {"reason": "contract ended"})
    owed = get(client, "/receivables", finance, kind="insurance", wait_for=head(client))
    ids = {g["insurer"]["code"]: g["payer_key"] for g in owed["items"]}
    assert sorted(ids) == ["A" + store_id, "B" + store_id]

    view = next(v for v in container.views if v.name == "finance")
    check = verify_view(container.app, container.pool, view)
    assert check.ok, check.as_dict()

    with container.pool.connection() as conn:
        live = receivables(conn, [store_id])
    rebuild(container.app, container.pool, view, batch_size=200)
    with container.pool.connection() as conn:
        assert receivables(conn, [store_id]) == live
        names = conn.execute("SELECT count(*) FROM insurer_names WHERE insurer_id::text = ANY(%s)",
                             (list(ids.values()),)).fetchone()
    assert names == (4,)  # A: its name and short name; B: its new name and its short name


def test_insurer_events_are_published_and_name_reservations_are_not(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    made = post(client, "/insurers", manager, {"code": "K" + store_id, "name": f"阳光{store_id}",
                                               "short_name": f"阳光保险{store_id}"}, 201)
    mapper = IntegrationMapper(container.app.mapper)
    (stored,) = container.app.recorder.select_events(UUID(made["id"]))
    message = mapper.to_message(1, stored)
    assert message is not None and message.known
    assert (message.topic, message.type) == ("servicecore.money", "insurer.registered")
    assert json.loads(message.value)["payload"]["short_name"] == f"阳光保险{store_id}"
    held = InsurerName.create_id(insurer_key(f"阳光{store_id}"))
    (reserved,) = container.app.recorder.select_events(held)
    assert mapper.to_message(2, reserved) is None  # internal, as invoice-number reservations


def test_one_alias_given_to_two_insurers_at_once_goes_to_one_of_them(
        container: Container, store_id: str) -> None:
    insurers = Insurers(container.app)
    for code in ("X", "Y"):
        insurers.register(request(store_id, "manager"), code=code + store_id,
                          name=f"{code} 保险{store_id}", short_name=f"{code}{store_id}")
    alias = f"Sunshine {store_id}"
    outcomes = together(4, lambda i: insurers.change_aliases(
        request(store_id, "manager"), ("X", "Y")[i % 2] + store_id, add=[alias],
        reason="typed on claims"))
    given = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(given) == 1, outcomes
    # the other insurer's attempts are 409 naming the holder; the holder's repeats change nothing
    holder = str(given[0].body["code"])
    for error in refused:
        assert isinstance(error, InsurerNameTaken | InsurerError), error
        if isinstance(error, InsurerNameTaken):
            assert error.extra["insurer_code"] == holder
    held = load(container.app, InsurerName, InsurerName.create_id(insurer_key(alias)))
    assert held.code == holder and not held.released
    other = load(container.app, Insurer, Insurer.create_id(
        ("Y" if holder.startswith("X") else "X") + store_id))
    assert insurer_key(alias) not in other.name_keys()
