"""A route's JSON body, checked before it is validated: sent as JSON, each object's names once.

FastAPI reads a body as JSON only when its Content-Type says so (`application/json` or
`application/*+json`) and otherwise hands the raw bytes to validation, which answered a body
sent as `text/plain` (or with no Content-Type) 422 "Input should be a valid dictionary": here
that is 415, saying what to send. And Python's parser keeps the last of a name given twice in
one object, so `{"store_id": "S01", …, "store_id": "S02"}` meant S01 to whatever read the first
(a proxy, a log) and S02 to the route: such a body is 422 naming where the name repeats.
"""

from __future__ import annotations

import email.message
import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form

from api.errors import UnsupportedMediaType


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this Content-Type as JSON (the same test it makes)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and \
        (subtype == "json" or subtype.endswith("+json"))


async def check(request: Request, route: Any) -> None:
    """Refuse the body of a route that takes a JSON body when it is not JSON (415) or names a
    member twice in one object (422). A route that reads its body itself (a statement file, the
    progress page's form) has no body field and is left alone; so is an empty body."""
    field = getattr(route, "body_field", None)
    if field is None or isinstance(field.field_info, Form):
        return
    body = await request.body()
    if not body:
        return
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        raise UnsupportedMediaType(
            "the body must be JSON, sent as Content-Type: application/json"
            + (f" (not {content_type[:100]})" if content_type else ""))
    repeated = repeated_members(body)
    if repeated:
        raise RequestValidationError([
            {"type": "repeated", "loc": ("body", *where), "msg": "Given more than once",
             "input": None} for where in repeated])


class _Repeated(dict[str, Any]):
    """An object of the body in which a name was given more than once (those names)."""

    names: list[str]


def repeated_members(body: bytes) -> list[tuple[str | int, ...]]:
    """Where a name is given twice in one object of `body`: each as its path from the top,
    ending with the name. Empty when it has none, or when it is not JSON that parses (FastAPI
    has already answered that)."""
    any_repeated = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal any_repeated
        members = dict(pairs)
        if len(members) == len(pairs):
            return members
        any_repeated = True
        counts: dict[str, int] = {}
        for name, _ in pairs:
            counts[name] = counts.get(name, 0) + 1
        repeated = _Repeated(members)
        repeated.names = [name for name, count in counts.items() if count > 1]
        return repeated

    try:
        document = json.loads(body, object_pairs_hook=pairs_hook)
    except (ValueError, RecursionError):
        return []
    if not any_repeated:
        return []
    found: list[tuple[str | int, ...]] = []
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while pending:  # a stack of its own: the body may be nested hundreds deep
        path, value = pending.pop()
        if isinstance(value, _Repeated):
            found += [(*path, name) for name in value.names]
        if isinstance(value, dict):
            pending += [((*path, name), item) for name, item in value.items()]
        elif isinstance(value, list):
            pending += [((*path, index), item) for index, item in enumerate(value)]
    return sorted(found, key=str)
