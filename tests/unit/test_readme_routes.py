"""README's route tables against the app: every route the app serves is listed, every listed
route exists with the method shown, and the roles a row names are the ones `api/auth.py` lets in.

A row's first cell names routes in the README's short notation: `POST /settlements` · `/{id}/discounts`
· `/{id}/confirmation`, `GET …/{id}`, `GET /settlements[/{id}]`. A span without a method takes the
one before it; a span that is not a whole route of the app is read against the path before it,
the longest prefix of that path first (`/cancel` after `/appointments/{id}/reschedule` is
`/appointments/{id}/cancel`). Path parameters match whatever their names.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Mapping
from pathlib import Path

from fastapi.dependencies.models import Dependant

from api.auth import ALL, PERMISSIONS
from api.db_deadline import DbDeadline
from api.json_bodies import api_routes
from api.main import create_app
from domain.common import ROLES

README = Path(__file__).resolve().parents[2] / "README.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
METHOD = "(?:" + "|".join(METHODS) + ")"


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _actions(dependant: Dependant, seen: set[int]) -> set[str]:
    """The permission actions a route's dependencies check (`reader("x")`, `command("x")`, …
    keep the action in their closure)."""
    found: set[str] = set()
    call = dependant.call
    if call is not None and id(call) not in seen:
        seen.add(id(call))
        for cell in getattr(call, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, str) and value in PERMISSIONS:
                found.add(value)
    for sub in dependant.dependencies:
        found |= _actions(sub, seen)
    return found


def served() -> dict[tuple[str, str], frozenset[str] | None]:
    """(method, path shape) → the roles that may call it (None: no permission is checked)."""
    ctx = types.SimpleNamespace(app=types.SimpleNamespace(snapshots=None),
                                max_body_bytes=262144, db_deadline=DbDeadline())
    app = create_app(ctx)  # type: ignore[arg-type]
    routes: dict[tuple[str, str], frozenset[str] | None] = {}
    for route in api_routes(app.routes):
        actions = _actions(route.dependant, set())
        roles = frozenset().union(*(PERMISSIONS[a] for a in actions)) if actions else None
        for method in (route.methods or set()) - {"HEAD"}:
            routes[(method, _shape(route.path))] = roles
    return routes


def table_rows() -> Iterator[tuple[int, str, str, str]]:
    """(line number, routes, roles, what) of every row of a route table."""
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"\| `" + METHOD + " /", line):
            cells = [cell.strip() for cell in re.split(r"(?<!\\) \| ", line.strip("| "))]
            yield number, cells[0], cells[1], cells[2]


def _variants(path: str) -> list[str]:
    """`/settlements[/{id}]` is `/settlements` and `/settlements/{id}`; a query is dropped."""
    path = re.sub(r"\[[?&][^\]]*\]", "", path).split("?")[0].split("&")[0].replace("\\", "")
    optional = re.search(r"\[([^\]]*)\]", path)
    if optional is None:
        return [path] if path else []
    short = path[:optional.start()] + path[optional.end():]
    whole = path[:optional.start()] + optional.group(1) + path[optional.end():]
    return [short, whole]


def _served_as(method: str, path: str, routes: Mapping[tuple[str, str], object],
               exact: bool) -> str | None:
    """The route (its shape) that answers `method path`: the same shape, or (not `exact`) one
    whose parameter takes a segment the README writes out (`/customers/{}/visits`)."""
    if (method, path) in routes:
        return path
    if exact:
        return None
    for served_method, shape in routes:
        pattern = "".join(r"(?:\{\}|[^/{}]+)" if part == "{}" else re.escape(part)
                          for part in re.split(r"(\{\})", shape))
        if served_method == method and re.fullmatch(pattern, path):
            return shape
    return None


def resolve(cell: str, routes: dict[tuple[str, str], frozenset[str] | None],
            ) -> Iterator[tuple[str, str | None, bool, str]]:
    """(method, the route's shape or None when it names none, whether the span named a method,
    the span) for every route a cell names."""
    method, previous = "GET", ""
    for span in re.findall(r"`([^`]*)`", cell):
        named = span.split(" ", 1)[0] in METHODS
        if named:
            method, path_text = span.split(" ", 1)
        else:
            path_text = span
        if not path_text.startswith(("/", "…")):
            continue  # `&store_id=`: a query of the route before
        # `/stock/lots/{lot}` after `/stock/movements` is whole: it starts as the path before
        relative = (not named or "…" in path_text) and not (
            previous and re.match(re.escape(previous.split("/")[1]) + "(/|$)", path_text[1:]))
        for path in _variants(_shape(path_text.replace("…", ""))):
            parts = previous.split("/")
            # the longest prefix of the path before first, the path as written last; a route
            # of that very shape before one whose parameter takes a written-out segment
            relatives = ["/".join(parts[:keep]) + path
                         for keep in range(len(parts), 1, -1) if relative]
            found = next((shape for candidates in (relatives, [path]) for exact in (True, False)
                          for candidate in candidates
                          if (shape := _served_as(method, candidate, routes, exact))), None)
            if found is not None:
                previous = found
            yield method, found, named, span


def _roles(text: str, before: frozenset[str] | None | str) -> frozenset[str] | None | str:
    """The roles a cell of the "who" column names: a set, None for a public route, "same" as
    the row before, or "?" when it says more than a list of roles (an exception in brackets)."""
    text = text.strip()
    if text.startswith("same"):
        return before if before is not None else "?"
    if text.startswith(("anyone", "the customer")):
        return None
    if "(" in text:
        return "?"
    if text in ("all roles", "all"):
        return ALL  # every staff role: the booking channel is none
    names = frozenset(name.strip() for name in text.split(","))
    return names if names <= ROLES else "?"


def _named_in(number: int, cell: str, what: str,
             routes: dict[tuple[str, str], frozenset[str] | None],
             ) -> Iterator[tuple[str, str | None, bool, str]]:
    """The routes of a row: its first cell's, and those its text names with their method
    (`GET /vehicles/{vin}/history`)."""
    yield from resolve(cell, routes)
    for span in re.findall("`(" + METHOD + " /[^`]*)`", what):
        yield from resolve(f"`{span}`", routes)


def test_every_listed_route_exists_with_its_method() -> None:
    routes = served()
    unknown = [f"line {number}: {method} {span}"
               for number, cell, _, what in table_rows()
               for method, path, _, span in _named_in(number, cell, what, routes)
               if path is None]
    assert not unknown, "README lists routes the app does not serve: " + "; ".join(unknown)


def test_every_route_the_app_serves_is_listed() -> None:
    routes = served()
    listed = {(method, path) for number, cell, _, what in table_rows()
              for method, path, _, _ in _named_in(number, cell, what, routes)}
    missing = sorted(f"{method} {path}" for method, path in routes
                     if (method, path) not in listed)
    assert not missing, "routes missing from README's route tables: " + "; ".join(missing)


def _per_route(who: str, spans: list[tuple[str, str | None, bool, str]]) -> list[str] | None:
    """The roles text of each route of a row: one group for all, one per route, or one per
    run of routes of the same method (`POST /parts` · `GET /parts?q=` · `GET /parts/{pn}`)."""
    groups = who.split(" · ")
    if len(groups) == len(spans):
        return groups
    if len(groups) == 1:
        return groups * len(spans)
    per_route, index, method = [], -1, None
    for span_method, _, named, _ in spans:
        if named and span_method != method:
            index, method = index + 1, span_method
        per_route.append(groups[max(index, 0)])
    return per_route if index == len(groups) - 1 else None


def test_the_roles_a_row_names_are_those_the_app_lets_in() -> None:
    routes = served()
    wrong: list[str] = []
    before: frozenset[str] | None | str = "?"
    last = 0
    for number, cell, who, _ in table_rows():
        if number != last + 1:
            before = "?"  # "same" is the row above, in one table
        last = number
        spans = list(resolve(cell, routes))
        per_route = _per_route(who, spans)
        if per_route is None:
            wrong.append(f"line {number}: {who!r} does not say whose each route is")
            continue
        row: frozenset[str] | None | str = "?"
        for (method, path, _, _), text in zip(spans, per_route, strict=True):
            expected = _roles(text, before)
            row = expected if row == "?" else row
            actual = routes.get((method, path or ""), "?")
            # a route without a permission dependency checks its caller itself (the
            # dashboard's session cookie): only "public" can be told from here
            if expected == "?" or actual == "?" or (actual is None and expected is not None):
                continue
            if actual != expected:
                wrong.append(f"line {number}: {method} {path} README "
                             f"{sorted(expected) if expected else 'public'}, app "
                             f"{sorted(actual) if actual else 'public'}")
        before = row
    assert not wrong, "README's roles differ from api/auth.py: " + "; ".join(wrong)


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def test_the_query_parameters_a_row_names_are_those_the_route_takes() -> None:
    """`GET /write-offs?store_id=&date_from=` in a row's first cell: each name is a query
    parameter of that route (a renamed or dropped parameter leaves the row naming it)."""
    ctx = types.SimpleNamespace(app=types.SimpleNamespace(snapshots=None),
                                max_body_bytes=262144, db_deadline=DbDeadline())
    taken: dict[tuple[str, str], set[str]] = {}
    for route in api_routes(create_app(ctx).routes):  # type: ignore[arg-type]
        for method in (route.methods or set()) - {"HEAD"}:
            taken[(method, _shape(route.path))] = _query_names(route.dependant)
    routes = served()
    wrong = [f"line {number}: {method} {path} ?{name}= (takes {', '.join(sorted(taken[(method, path)]))})"
             for number, cell, _, _ in table_rows()
             for method, path, _, span in resolve(cell, routes) if path is not None
             for name in re.findall(r"[?&\[]([a-z_]+)=", span)
             if name not in taken[(method, path)]]
    assert not wrong, "README names query parameters its routes do not take: " + "; ".join(wrong)
