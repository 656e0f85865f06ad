"""One form for every timestamp the API answers: RFC 3339 in UTC with `Z`
(`2026-12-04T09:30:00.123456Z`).

Timestamps reach an answer by several roads: pydantic writes an aware UTC `datetime` with `Z`,
FastAPI's encoder (routes without a response model) and `datetime.isoformat()` (what the read
models store in their JSON documents, and many replays) write `+00:00`, and a few reports write
the store's offset (`+08:00`). Clients compared and parsed them differently. Rather than rely
on every road agreeing (and on every read model being rebuilt for rows written before), the
answer's bytes are settled here, once: a JSON string that is a whole timestamp with an offset
becomes the same moment in UTC with `Z`. Free text that merely contains one is left alone (the
string must be the timestamp and nothing else), and so are days (`2026-12-04`) and local times
without an offset (`09:30`), which are not moments.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.evidence import in_utc

# A quoted timestamp with a numeric offset; it is a JSON string of its own when its opening
# quote follows `[`, `,` or `:` (with or without one space; `_utc` looks, which is twice as
# fast as a lookbehind in the pattern). Inside an escaped string the closing quote is `\"`,
# which the pattern does not accept.
_OFFSET_TIMESTAMP = re.compile(
    rb'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)([+-]\d{2}:\d{2})"')
_OPENERS = frozenset(b"[,:")
_SPACE = ord(" ")
_JSON_TYPES = (b"application/json", b"application/problem+json", b"application/jsonl")


def _utc(found: re.Match[bytes]) -> bytes:
    text, start = found.string, found.start()
    if start and text[start - 1] not in _OPENERS and not (
            text[start - 1] == _SPACE and start > 1 and text[start - 2] in _OPENERS):
        return found.group(0)  # inside a longer string
    return b'"' + in_utc((found.group(1) + found.group(2)).decode()).encode() + b'"'


def utc_timestamps(body: bytes) -> bytes:
    """The JSON `body` with each timestamp string in UTC with `Z`."""
    return _OFFSET_TIMESTAMP.sub(_utc, body)


class UtcTimestamps:
    """Rewrites the timestamps of JSON and JSON Lines answers (see the module's docstring);
    other answers (HTML, CSV, files) and streamed bodies pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None

        async def rewriting_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if _is_json(message):
                    start = message  # held until the body: its length may change
                    return
                await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                held, start = start, None
                if message.get("more_body", False):  # streamed: pass as it is
                    await send(held)
                    await send(message)
                    return
                body = utc_timestamps(message.get("body", b""))
                await send(_with_length(held, len(body)))
                await send({**message, "body": body})
            else:
                await send(message)

        await self.app(scope, receive, rewriting_send)


def _is_json(message: Message) -> bool:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return value.split(b";")[0].strip().lower() in _JSON_TYPES
    return False


def _with_length(start: Message, length: int) -> Message:
    headers = [(name, value) for name, value in start.get("headers", ())
               if name.lower() != b"content-length"]
    headers.append((b"content-length", str(length).encode("latin-1")))
    return {**start, "headers": headers}
