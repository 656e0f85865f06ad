"""A route's JSON body, parsed once, exactly, and checked before it is validated.

Every router's routes are `JsonBodyRoute`s: the body of a route that takes JSON is parsed here,
once, before FastAPI would parse it, and FastAPI is handed the document (and `api.deps.command`
fingerprints the same document). Each number with a fraction or an exponent is read as the
`Decimal` it writes, not as the float nearest to it: `0.1000000000000000001` kept its last digit
only as a string before, and a body field's own bounds and decimal places now see every digit.
Whole numbers are Python ints, as before. A number is read as the same number written as a
string is, digit for digit, its sign too: a zero written with a minus (`-0`, `-0.0`, `-0e2`)
keeps it (`NegativeZero`, a signed `Decimal` zero), so a number field refuses it as it refuses
the string "-0" (api/numbers.py), where `-0` was the int 0 and `-0.0` was taken as 0.

FastAPI reads a body as JSON only when its Content-Type says so (`application/json` or
`application/*+json`) and otherwise hands the raw bytes to validation, which answered a body
sent as `text/plain` (or with no Content-Type) 422 "Input should be a valid dictionary": here
that is 415, saying what to send. Python's parser keeps the last of a name given twice in
one object, so `{"store_id": "S01", …, "store_id": "S02"}` meant S01 to whatever read the first
(a proxy, a log) and S02 to the route: such a body is 422 naming where the name repeats. And it
takes `NaN`, `Infinity` and `-Infinity`, which are not JSON: 422 naming where each stands.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, get_args, get_origin

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from api.errors import NumberTooLong, UnsupportedMediaType
from api.replays import one_hop, replay_first

# The most digits a number may have before its point: what Python's int() reads from text
# (sys.get_int_max_str_digits()), so a JSON whole number past it is refused by the parser
# alike. Read exactly, 1e999999999 would otherwise be a whole number int() takes minutes to
# build, where a float was only infinite.
DIGITS_MAX = 4300
# The most significant digits a number with a fraction or an exponent may have: 4300 either
# side of its point. pydantic's check that such a number is whole (every int field) takes
# time growing with the square of its digits: a body of 0.111… (260,000 ones, under the body
# limit) held the GIL for about 4 s before it was refused as "not a whole number".
SIGNIFICANT_MAX = 2 * DIGITS_MAX
_DOCUMENT = "servicecore.json_body"  # the parsed document, kept in the request's scope

Where = tuple[str | int, ...]


def exact_number(text: str) -> Decimal:
    """A JSON number with a fraction or an exponent, as the decimal it writes, in plain
    notation (`1e2` is 100, not 1E+2). An exponent may not make it longer than DIGITS_MAX
    digits written out, and it may have at most SIGNIFICANT_MAX digits from its first one
    that is not zero on (zeros before that can be as many as the body limit lets through: a
    string can hold them too)."""
    try:
        number = Decimal(text)
    except InvalidOperation:  # an exponent past what a Decimal holds (about 10**18)
        raise NumberTooLong(text[:40]) from None
    if number.adjusted() >= DIGITS_MAX:
        raise NumberTooLong(text[:40])
    sign, digits, exponent = number.as_tuple()
    if len(digits) > SIGNIFICANT_MAX:
        raise TooManyDigits(text[:40])
    if "e" not in text and "E" not in text:  # written out: no longer than its text
        return number
    assert isinstance(exponent, int)  # JSON writes no NaN or Infinity as a number
    if -exponent > max(DIGITS_MAX, len(text)):
        raise NumberTooLong(text[:40])
    if exponent > 0:  # exactly, without a context's precision: 1e100 has 101 digits
        return Decimal((sign, digits + (0,) * exponent, 0))
    return number


class TooManyDigits(NumberTooLong):
    """A number with more than `SIGNIFICANT_MAX` significant digits."""

    detail = f"a number in the body has more than {SIGNIFICANT_MAX} significant digits"


class NegativeZero(int):
    """A JSON `-0`: the int 0 to whatever reads it as a number, but a number field's check
    (`api.numbers.plain`) sees the minus it was written with, as in the string "-0"."""


def _whole(text: str) -> int:
    """A JSON number without a fraction or an exponent, as `json.loads` reads it."""
    return NegativeZero() if text == "-0" else int(text)


@dataclass(frozen=True)
class Parsed:
    """A body's document; where a name was given twice; where NaN or Infinity stood."""

    document: Any
    repeated: list[Where]
    not_finite: list[Where]


class _Repeated(dict[str, Any]):
    """An object of the body in which a name was given more than once (those names)."""

    names: list[str]


def parse(body: bytes | str) -> Parsed:
    """The body's document, its numbers exact (`exact_number`), the last of a repeated name
    kept as Python's parser does. Raises what `json.loads` raises for a body that is not JSON
    (a `json.JSONDecodeError`, a `UnicodeDecodeError`, a `RecursionError` past the parser's
    depth, a ValueError for a whole number of more than 4300 digits) and `NumberTooLong`."""
    any_repeated = any_constant = False

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

    def constant(name: str) -> float:
        nonlocal any_constant
        any_constant = True
        return float(name)  # the only floats of the document: its numbers are exact

    document = json.loads(body, object_pairs_hook=pairs_hook, parse_float=exact_number,
                          parse_int=_whole, parse_constant=constant)
    if not (any_repeated or any_constant):
        return Parsed(document, [], [])
    repeated: list[Where] = []
    not_finite: list[Where] = []
    pending: list[tuple[Where, Any]] = [((), document)]
    while pending:  # a stack of its own: the body may be nested hundreds deep
        path, value = pending.pop()
        if isinstance(value, _Repeated):
            repeated += [(*path, name) for name in value.names]
        if isinstance(value, dict):
            pending += [((*path, name), item) for name, item in value.items()]
        elif isinstance(value, list):
            pending += [((*path, index), item) for index, item in enumerate(value)]
        elif isinstance(value, float):
            not_finite.append(path)
    return Parsed(document, sorted(repeated, key=str), sorted(not_finite, key=str))


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this Content-Type as JSON (the same test it makes)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and \
        (subtype == "json" or subtype.endswith("+json"))


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every API route below `routes`, those of included routers too: FastAPI keeps an
    included router whole (its routes are not copied into the app's)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def takes_json(route: APIRoute) -> bool:
    """Whether FastAPI reads the route's body as JSON. A route that reads its body itself (a
    statement file, the progress page's decisions) or takes a form has no such body."""
    field = route.body_field
    return field is not None and not isinstance(field.field_info, Form)


@dataclass(frozen=True)
class BodyField:
    """A field of a model in a route's body, and where it stands in the body (an item of a
    list at 0, a value of a map under "key")."""

    model: type[BaseModel]
    name: str
    where: Where
    field: FieldInfo


def body_fields(route: APIRoute) -> Iterator[BodyField]:
    """Every field of every model a route's body holds, nested ones too, each model once."""
    seen: set[type] = set()
    for param in route.dependant.body_params:
        yield from _fields(param.field_info.annotation, (), seen)


def _fields(annotation: Any, where: Where, seen: set[type]) -> Iterator[BodyField]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            seen.add(annotation)
            for name, field in annotation.model_fields.items():
                place = (*where, field.alias or name)
                yield BodyField(annotation, name, place, field)
                yield from _fields(field.annotation, place, seen)
        return
    args = [arg for arg in get_args(annotation) if not isinstance(arg, str | int)]
    origin = get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        args, where = args[1:], (*where, "key")
    elif isinstance(origin, type) and issubclass(origin, Iterable):
        where = (*where, 0)
    for arg in args:
        yield from _fields(arg, where, seen)


async def read(request: Request) -> None:
    """Parse the request's JSON body, once, and keep the document where FastAPI looks for it.

    Refused as FastAPI refused it: 422 `json_invalid` at the position of a syntax error, 400
    for a body the parser cannot read (not UTF-8, nested past its depth, a number too long),
    which `api.errors` explains. And 415 for a body that is not JSON, 422 for a name given
    twice or a NaN or Infinity. An empty body is left to validation ("Field required")."""
    body = await request.body()
    if not body:
        return
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        raise UnsupportedMediaType(
            "the body must be JSON, sent as Content-Type: application/json"
            + (f" (not {content_type[:100]})" if content_type else ""))
    try:
        parsed = parse(body)
    except json.JSONDecodeError as exc:  # FastAPI's answer to the same body, word for word
        raise RequestValidationError([
            {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
             "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, "There was an error parsing the body") from exc
    errors = [{"type": "repeated", "loc": ("body", *where), "msg": "Given more than once",
               "input": None} for where in parsed.repeated]
    errors += [{"type": "finite_number", "loc": ("body", *where),
                "msg": "Input should be a finite number (NaN and Infinity are not JSON)",
                "input": None} for where in parsed.not_finite]
    if errors:
        raise RequestValidationError(errors)
    # FastAPI takes the body from `await request.json()`, which answers Starlette's cached
    # document when there is one: its own parse (floats, the last of a repeated name) is
    # never made. tests/e2e/test_exact_json_api.py counts the parses.
    request._json = parsed.document
    request.scope[_DOCUMENT] = parsed.document


NOT_READ = object()


def document(request: Request) -> Any:
    """The document `read` parsed from the request's body, or `NOT_READ` when it parsed none
    (an empty body, a route that reads its body itself)."""
    return request.scope.get(_DOCUMENT, NOT_READ)


class JsonBodyRoute(APIRoute):
    """A route whose JSON body, if it takes one, is read by `read` before FastAPI's handler
    runs: every router is made with `route_class=JsonBodyRoute` (tests/e2e/
    test_exact_json_api.py checks). A route that takes a command answers a retry stored under
    its Idempotency-Key before it runs (`api.replays.replay_first`), in one trip through the
    thread pool (`api.replays.one_hop`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, one_hop(replay_first(endpoint)), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not takes_json(self):
            return handler

        async def read_first(request: Request) -> Response:
            await read(request)
            return await handler(request)

        return read_first
