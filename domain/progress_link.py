"""The customer's progress link: a signed, expiring URL per work order, and who shared it.

A link token carries the work order id, its expiry and a random 128-bit nonce, tagged with
HMAC-SHA256 under a key derived from the server secret for this purpose only (a bearer token
never opens a progress page, nor a link token an API call). The token itself is never stored:
the `ProgressLinks` stream of the work order records who issued which link (its nonce), until
when, and who revoked it; the server recomputes the token from those when asked again.

A work order has at most one live link: issuing a new one revokes the one before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, NotFound, require, stable_id

TOKEN_VERSION = 1
TAG_BYTES = 16
_PAYLOAD = struct.Struct(">B16sI16s")  # version, work order id, expiry (unix s), nonce
KEY_LABEL = b"servicecore/progress-link/v1"
# Links issued for one work order, at most: each issue loads, copies and saves every link
# issued before it (the list of a work order's links shows them all).
MAX_LINKS = 200


class ProgressLinkError(IllegalTransition):
    """Issuing or revoking a link is not possible now (HTTP 409)."""


class LinkRefused(NotFound):
    """The token is malformed, tampered with, or names no link we issued (HTTP 404)."""

    kind = "progress-link-unknown"


class LinkGone(IllegalTransition):
    """The link was real but has expired or been revoked (HTTP 410 on the progress page)."""

    kind = "progress-link-gone"


@dataclass(frozen=True)
class LinkClaims:
    work_order_id: UUID
    expires_at: datetime
    nonce: str  # 32 hex digits

    @property
    def actor(self) -> str:
        """Who the customer is in the audit trail when they act through this link."""
        return f"customer-link:{self.nonce}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks link tokens and the page's form tokens (HMAC, constant-time checks)."""

    def __init__(self, server_secret: str, label: bytes = KEY_LABEL) -> None:
        """`label` keeps each kind of link apart: a token signed for one (a progress page, an
        online booking) never verifies as another's."""
        self._key = hmac.new(server_secret.encode(), label, hashlib.sha256).digest()

    def _tag(self, *parts: bytes) -> bytes:
        return hmac.new(self._key, b"|".join(parts), hashlib.sha256).digest()[:TAG_BYTES]

    def token(self, claims: LinkClaims) -> str:
        payload = _PAYLOAD.pack(TOKEN_VERSION, claims.work_order_id.bytes,
                                int(claims.expires_at.timestamp()), bytes.fromhex(claims.nonce))
        return _b64(payload + self._tag(b"link", payload))

    def claims(self, token: str) -> LinkClaims:
        """The token's claims if its tag is ours (expiry is checked by the caller)."""
        try:
            raw = _unb64(token)
        except (binascii.Error, ValueError):
            raise LinkRefused("no such progress link") from None
        payload, tag = raw[:_PAYLOAD.size], raw[_PAYLOAD.size:]
        if len(raw) != _PAYLOAD.size + TAG_BYTES or \
                not hmac.compare_digest(tag, self._tag(b"link", payload)):
            raise LinkRefused("no such progress link")
        version, wo_id, expires, nonce = _PAYLOAD.unpack(payload)
        if version != TOKEN_VERSION:
            raise LinkRefused("no such progress link")
        return LinkClaims(UUID(bytes=wo_id), datetime.fromtimestamp(expires, UTC), nonce.hex())

    def form_token(self, claims: LinkClaims) -> str:
        """The hidden field the page's forms carry: only a page we served knows it."""
        return _b64(self._tag(b"form", bytes.fromhex(claims.nonce)))

    def form_token_ok(self, claims: LinkClaims, given: str) -> bool:
        return hmac.compare_digest(self.form_token(claims).encode(), given.encode())


def new_nonce() -> str:
    return secrets.token_bytes(16).hex()


class ProgressLinks(Aggregate):
    """The links shared for one work order: who issued each, until when, who revoked it."""

    class Event(Aggregate.Event):
        audit: Audit

    class Started(Event, Aggregate.Created):
        work_order_id: UUID
        number: str

    class LinkIssued(Event):
        nonce: str
        expires_at: datetime
        replaces: str | None

    class LinkRevoked(Event):
        nonce: str
        reason: str

    @staticmethod
    def create_id(work_order_id: UUID) -> UUID:
        return stable_id("progress-links", work_order_id)

    @event(Started)
    def __init__(self, audit: Audit, work_order_id: UUID, number: str) -> None:
        self.work_order_id = work_order_id
        self.number = number
        self.store_id = audit.store_id
        self.links: dict[str, dict[str, Any]] = {}
        self.live: str | None = None

    def issue(self, audit: Audit, nonce: str, expires_at: datetime) -> str | None:
        """Issue a link; the live one before it (if any) is revoked with it and named."""
        if expires_at <= audit.at:
            raise ProgressLinkError("a link must expire in the future")
        require(len(self.links) < MAX_LINKS,
                InvalidInput(f"a work order's progress is shared at most {MAX_LINKS} times"))
        replaced = self.live if self.live and self.is_live(self.live, audit.at) else None
        self._issued(audit, nonce, expires_at, replaced)
        return replaced

    @event(LinkIssued)
    def _issued(self, audit: Audit, nonce: str, expires_at: datetime,
                replaces: str | None) -> None:
        if replaces is not None:
            self.links[replaces]["revoked"] = {"by": audit.user_id, "at": audit.at,
                                               "reason": "replaced by a new link"}
        self.links[nonce] = {"nonce": nonce, "expires_at": expires_at, "issued_by": audit.user_id,
                             "issued_at": audit.at, "revoked": None}
        self.live = nonce

    def revoke(self, audit: Audit, reason: str) -> str:
        live = self.live
        if live is None or not self.is_live(live, audit.at):
            raise ProgressLinkError("this work order has no live progress link")
        self._revoked(audit, live, reason)
        return live

    @event(LinkRevoked)
    def _revoked(self, audit: Audit, nonce: str, reason: str) -> None:
        self.links[nonce]["revoked"] = {"by": audit.user_id, "at": audit.at, "reason": reason}
        self.live = None

    def is_live(self, nonce: str, at: datetime) -> bool:
        link = self.links.get(nonce)
        return link is not None and link["revoked"] is None and at < link["expires_at"]

    def check(self, claims: LinkClaims, at: datetime) -> None:
        """Refuse a link we never issued (404), or one expired or revoked (410)."""
        link = self.links.get(claims.nonce)
        if link is None or self.work_order_id != claims.work_order_id \
                or link["expires_at"] != claims.expires_at:
            raise LinkRefused("no such progress link")
        if not self.is_live(claims.nonce, at):
            raise LinkGone("this link is no longer valid")
