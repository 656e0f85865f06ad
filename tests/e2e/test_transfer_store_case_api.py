"""A transfer's receiving store is matched as every store id is, exactly, case included: a
`to_store` that differs from a store the command knows (the sending store, the stores of the
clerk's token, the group's stores) only by case is a typo, refused with 422 problem+json naming
`to_store`, and a store outside the group's names `to_store` too. Before, `s02` was taken as a
store of its own and the units left for it, in transit to a store that does not exist."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post
from tests.e2e.test_stock_refusal_fields import refused


def test_a_receiving_store_typed_in_another_case_is_refused_naming_to_store(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    clerk = auth("parts_clerk", stores=[store_id, other])
    pads = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{pads}/receipts", clerk, {
        "qty": 5, "unit_cost": "100.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"}, 201)
    before = get(client, f"/stock/{store_id}/{pads}", clerk, wait_for=head(client))
    send = {"from_store": store_id, "part_number": pads, "qty": 1, "reason": "a car waits"}
    # The sister store in lower case, with blanks around it; the sending store itself so.
    for typed in (other.lower(), f" {other.lower()} ", store_id.lower()):
        problem = refused(client, "/stock/transfers", clerk, {**send, "to_store": typed},
                          "to_store")
        assert problem["store_id"] == typed.strip(), problem
    # Nothing left the store, and no store of the lower-case name has anything coming.
    after = get(client, f"/stock/{store_id}/{pads}", clerk, wait_for=head(client))
    assert (after["version"], after["on_hand"]) == (before["version"], "5")
    assert get(client, "/stock/valuation", clerk, store_id=store_id)["items"][0][
        "in_transit_units"] == "0"
    # Typed as the store is named, it goes (blanks around it trimmed as before).
    sent = post(client, "/stock/transfers", clerk, {**send, "to_store": f" {other} "}, 201)
    assert sent["number"].startswith(f"TR-{store_id}-")


def test_a_group_store_typed_in_another_case_or_missing_is_refused_naming_to_store(
        group_client: TestClient, auth: Auth, group_stores: tuple[str, str]) -> None:
    here, there = group_stores
    clerk = auth("parts_clerk", stores=[here])
    pads = new_part(group_client, clerk, min_stock=0)
    post(group_client, f"/stock/{here}/{pads}/receipts", clerk, {
        "qty": 2, "unit_cost": "100.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"},
         201)
    send = {"from_store": here, "part_number": pads, "qty": 1, "reason": "a car waits"}
    problem = refused(group_client, "/stock/transfers", clerk,
                      {**send, "to_store": there.lower()}, "to_store")
    assert there in problem["detail"], problem
    problem = refused(group_client, "/stock/transfers", clerk,
                      {**send, "to_store": there + "X"}, "to_store")
    assert problem["known_stores"] == sorted(group_stores)
    post(group_client, "/stock/transfers", clerk, {**send, "to_store": there}, 201)
