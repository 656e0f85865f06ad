"""What every `?as_of=` read is checked for: a change made after a moment is not in the answer
as of that moment and is in the current read; the replay now is the current read (plus its
`as_of`); before the stream existed 404; a bad `as_of` 422 naming it; the future refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_as_of_future_api import future
from tests.e2e.test_parts_api import get, head

Doc = dict[str, Any]


def last_moment(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> datetime:
    """The business time of the stream's latest event (its `/history`'s last item)."""
    page = get(client, f"{url}/history", headers, **params)
    assert page["total"] == len(page["items"]) > 0
    return datetime.fromisoformat(page["items"][-1]["actor"]["at"])


def checked_as_of(client: TestClient, url: str, headers: dict[str, str], *, first: datetime,
                  then: datetime, change: Callable[[], Any], before: Callable[[Doc], Any],
                  after: Callable[[Doc], Any], **params: Any) -> tuple[Doc, Doc]:
    """`change` is made after `then`; the read as of `then` shows `before` (a check that fails
    on the changed doc) and the current read `after`; `first` is the stream's first moment.
    Answers the docs as of `then` and now."""
    change()
    old = get(client, url, headers, as_of=then.isoformat(), **params)
    assert datetime.fromisoformat(old["as_of"]) == then
    before(old)
    current = get(client, url, headers, wait_for=head(client), **params)
    after(current)
    assert "as_of" not in current
    replayed_now = get(client, url, headers, as_of=datetime.now(UTC).isoformat(),
                       wait_for=head(client), **params)
    after(replayed_now)
    assert {k: v for k, v in replayed_now.items() if k != "as_of"} == current

    too_early = client.get(url, headers=headers, params={
        "as_of": (first - timedelta(seconds=1)).isoformat(), **params})
    assert too_early.status_code == 404, too_early.text
    assert "did not exist at" in too_early.json()["detail"]
    bad = client.get(url, headers=headers, params={"as_of": "last tuesday", **params})
    assert bad.status_code == 422, bad.text
    assert ["query", "as_of"] in [e["loc"] for e in bad.json()["errors"]], bad.text
    future(client, url, headers, (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
           **params)
    return old, current

