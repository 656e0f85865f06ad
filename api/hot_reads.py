"""The two most frequent reads answered without FastAPI's route scan and dependency solving.

`GET /stock/{store_id}/{part_number}` and `GET /work-orders/{work_order_id}` are what the parts
counter and the front desk ask most. Through FastAPI each paid more for the routing, the ~5
dependencies solved and the general request handler than for its one indexed lookup.
`HotReads` (a middleware inside `ObserveRequests`, so the correlation id, the access line and
the metrics are written as for every request) answers a plain one — GET, no query string but
`wait_for`, path values the route accepts — with the route's own pieces: the same
authentication and permission check, the same wait and read on the same pool and the same
recorded read of personal data (`current_stock_item`, `current_work_order`), the route's own
response serializer, and the app's exception handlers for every error it raises (401, 403,
404, 503: the same problem+json). Everything else (`as_of`, an unknown parameter, a value the
route would refuse, HEAD, a path an earlier route serves) goes on to FastAPI. The routes stay
declared in their routers: the OpenAPI document comes from them, as does every answer that is
not plain.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute, serialize_response
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api import log_context
from api.auth import authorize, principal_from
from api.observe import header_value
from api.pii_reads import open_reading
from api.reads import read_models
from api.routes import stock, work_orders

Answer = Callable[[APIRoute, Scope, dict[str, str], int | None], Awaitable[Response | None]]
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CORRELATION_ID_MAX = 200  # the X-Correlation-ID header's bound (api/deps.py CorrelationId)
# `?wait_for=` alone, as the route reads it (api/deps.py WaitFor: 0 to 2**63 - 1)
_WAIT_FOR = re.compile(rb"wait_for=(0|[1-9][0-9]{0,18})")
_WAIT_FOR_MAX = 2**63 - 1


@dataclass(frozen=True)
class HotRoute:
    route: APIRoute
    earlier: tuple[re.Pattern[str], ...]  # the paths of the GET routes tried before it
    answer: Answer


class HotReads:
    """See the module's docstring. Built with the middleware stack (at the first request),
    when every route is included; a route it cannot find is simply left to FastAPI."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self.handlers = {kind: handler for kind, handler in api.exception_handlers.items()
                         if isinstance(kind, type) and kind is not Exception}
        answers: dict[Callable[..., Any], Answer] = {
            stock.stock_item: self._stock_item, work_orders.get_one: self._work_order}
        self.routes = tuple(_hot_routes(list(_flat(api.routes)), answers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = None
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            plain, wait_for = _plain_query(scope["query_string"])
            if plain:
                response = await self._answer(scope, receive, wait_for)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    @property
    def served(self) -> list[str]:
        """The route templates answered here (tests check that none went missing)."""
        return [hot.route.path for hot in self.routes]

    async def _answer(self, scope: Scope, receive: Receive,
                      wait_for: int | None) -> Response | None:
        path: str = scope["path"]
        for hot in self.routes:
            found = hot.route.path_regex.match(path)
            if found is not None:
                break
        else:
            return None
        if "\x00" in path or any(earlier.match(path) for earlier in hot.earlier):
            return None
        params = found.groupdict()
        scope["route"], scope["path_params"] = hot.route, params  # as the router sets them
        try:
            return await hot.answer(hot.route, scope, params, wait_for)
        except Exception as exc:
            handler = next((self.handlers[kind] for kind in type(exc).__mro__
                            if kind in self.handlers), None)
            if handler is None:
                raise
            answer = handler(Request(scope, receive), exc)  # the app's handlers are async
            return await answer if inspect.isawaitable(answer) else answer

    async def _stock_item(self, route: APIRoute, scope: Scope, params: dict[str, str],
                          wait_for: int | None) -> Response | None:
        store_id, part_number = params["store_id"], params["part_number"]
        if len(store_id) > 20 or len(part_number) > 40:  # api/deps.py StoreId, PartNumber
            return None
        log_context.name_store(store_id)  # as `known_query_only` does for every route
        principal = principal_from(header_value(scope, b"authorization"),
                                   self.api.state.ctx.jwt_secret)
        authorize(principal, stock.READ)
        found = await stock.current_stock_item(read_models(self.api), principal, store_id,
                                               part_number, wait_for)
        return await _json(route, found, ())

    async def _work_order(self, route: APIRoute, scope: Scope, params: dict[str, str],
                          wait_for: int | None) -> Response | None:
        if not _UUID.fullmatch(params["work_order_id"]) or any(
                len(value) > _CORRELATION_ID_MAX for value in _values(scope, b"x-correlation-id")):
            return None
        headers = MutableHeaders(raw=[])
        reading = open_reading(Request(scope), headers, header_value(scope, b"authorization"),
                               None, work_orders.READ)
        doc = await work_orders.current_work_order(
            read_models(self.api), reading, headers, UUID(params["work_order_id"]), wait_for)
        return await _json(route, doc, headers.raw)


async def _json(route: APIRoute, content: Any, headers: Sequence[tuple[bytes, bytes]]
                ) -> Response:
    """The answer as FastAPI makes it for a route without a response class of its own."""
    body = await serialize_response(
        field=route.response_field, response_content=content,
        include=route.response_model_include, exclude=route.response_model_exclude,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none, dump_json=True)
    response = Response(body, media_type="application/json")
    response.headers.raw.extend(headers)
    return response


def _plain_query(query: bytes) -> tuple[bool, int | None]:
    """Whether the query leaves the read plain (none, or `wait_for` alone), and `wait_for`."""
    if not query:
        return True, None
    found = _WAIT_FOR.fullmatch(query)
    if found is None or int(found[1]) > _WAIT_FOR_MAX:
        return False, None
    return True, int(found[1])


def _values(scope: Scope, name: bytes) -> Iterator[str]:
    return (bytes(value).decode("latin-1") for key, value in scope["headers"] if key == name)


def _flat(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute | None]:
    """The app's routes in the order they are tried; None for one whose paths are unknown."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is None:
            yield route
        elif getattr(getattr(route, "include_context", None), "prefix", None) == "":
            yield from _flat(included.routes)
        else:
            yield None


def _hot_routes(routes: list[BaseRoute | None],
                answers: dict[Callable[..., Any], Answer]) -> Iterator[HotRoute]:
    """The hot routes in `answers`' order, each with the GET paths tried before it; none at
    all when one is not found, is not a plain JSON route, or follows a route of unknown
    paths."""
    found: list[HotRoute] = []
    for endpoint, answer in answers.items():
        index = next((i for i, r in enumerate(routes)
                      if isinstance(r, APIRoute) and r.endpoint is endpoint), None)
        if index is None:
            return
        route = routes[index]
        assert isinstance(route, APIRoute)
        earlier = [r for r in routes[:index]
                   if r is None or "GET" in (getattr(r, "methods", None) or {"GET"})]
        patterns = [getattr(r, "path_regex", None) for r in earlier]
        if (route.response_field is None or not isinstance(route.response_class,
                                                           DefaultPlaceholder)
                or not all(isinstance(p, re.Pattern) for p in patterns)):
            return
        found.append(HotRoute(route, tuple(p for p in patterns if p is not None), answer))
    yield from found
