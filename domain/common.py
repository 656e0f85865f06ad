"""What every aggregate shares: the audit stamp on each event, ids, and the error family."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "https://servicecore.local/ids")

# The backend of the store's WeChat mini program or website, booking on a customer's behalf:
# a token's role, allowed the online-booking requests and the free slots only (api/auth.py).
BOOKING_CHANNEL_ROLE = "booking_channel"
ROLES = frozenset(
    {"advisor", "technician", "qc_inspector", "parts_clerk", "cashier", "finance", "manager",
     "auditor", "analyst", BOOKING_CHANNEL_ROLE}
)
# The customer deciding on estimate lines through their progress link. Never a token's role:
# it exists only inside a request to /progress/{token} (see domain/progress_link.py).
CUSTOMER_ROLE = "customer"


def stable_id(kind: str, *parts: object) -> UUID:
    """A deterministic id, e.g. stable_id("vehicle", vin): the same inputs always name one stream."""
    return _named("/".join([kind, *(str(p) for p in parts)]))


@lru_cache(maxsize=65536)
def _named(name: str) -> UUID:
    return uuid5(NAMESPACE, name)


@dataclass(frozen=True)
class Audit:
    """Who did it, as what, in which store, when, as part of which request."""

    user_id: str
    role: str
    store_id: str
    at: datetime
    correlation_id: str
    idempotency_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DomainError(Exception):
    """Base of every rule the domain refuses. Subclasses say which kind of refusal it is."""

    kind = "domain-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(DomainError):
    """The request is malformed or violates a value rule (HTTP 422)."""

    kind = "invalid-input"


class NotFound(DomainError):
    """The named thing does not exist, or not in the caller's stores (HTTP 404)."""

    kind = "not-found"


class IllegalTransition(DomainError):
    """The command is not allowed in the current state (HTTP 409)."""

    kind = "illegal-transition"


class VersionConflict(DomainError):
    """Another writer won the race and retrying did not help (HTTP 409)."""

    kind = "version-conflict"


class StaleVersion(DomainError):
    """The client's If-Match version is not the current one (HTTP 412)."""

    kind = "stale-version"


class NotPermitted(DomainError):
    """The caller's role may not do this particular thing (HTTP 403)."""

    kind = "not-permitted"


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came back with a different request body (HTTP 422)."""

    kind = "idempotency-key-reused"


def causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what caused it (`raise … from`, else the exception being handled), and so
    on, each once: where a wrapper (the event store's, a command's) hides what happened."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def require(condition: bool, error: DomainError) -> None:
    if not condition:
        raise error


def require_group_store(stores: Iterable[str], *store_ids: str, field: str | None = None) -> None:
    """A command that names a store names one of the group's stores (the `stores` setting),
    whatever the caller's token covers: a token for every store ("*") does not make a mistyped
    store exist. Without the setting (no stores) the token alone decides (a store it does not
    name is 403). `field`: the input naming the store(s), where it is not `store_id`."""
    known = frozenset(stores)
    named = {} if field is None else {"field": field}
    for store_id in store_ids:
        require(not known or store_id in known, InvalidInput(
            f"store {store_id} is not one of the group's stores",
            store_id=store_id, known_stores=sorted(known), **named))


def require_exact_store(store_id: str, known: Iterable[str], field: str) -> None:
    """Store ids are matched exactly, case included, as a token's stores are: a store id that
    differs from a store the command knows only by case (`s02` for `S02`) is a typo, refused
    naming `field`, never taken for a store of its own."""
    for other in known:
        require(other == store_id or other.casefold() != store_id.casefold(), InvalidInput(
            f"store {store_id} is not store {other}: store ids are matched exactly, case "
            "included", field=field, store_id=store_id))


def require_reason(reason: str | None, what: str, field: str = "reason") -> str:
    """The reason given, stripped; InvalidInput naming the `field` that carries it when it
    is missing or shorter than 3 characters."""
    text = (reason or "").strip()
    if len(text) < 3:
        raise InvalidInput(f"{what} needs a reason (at least 3 characters)", field=field)
    return text


def a_text(value: str | None, field: str, what: str, least: int = 3, most: int = 500) -> str:
    """The text given, stripped: at least `least` characters, at most `most`, else
    InvalidInput naming `field`."""
    text = (value or "").strip()
    require(len(text) >= least, InvalidInput(
        f"{what} is required (at least {least} characters)", field=field))
    require(len(text) <= most, InvalidInput(f"{what} is at most {most} characters",
                                            field=field))
    return text


@dataclass(frozen=True)
class Caller:
    """The authenticated user behind a command, as the API hands it to the domain."""

    user_id: str
    role: str
    stores: tuple[str, ...]
    at: datetime
    correlation_id: str
    idempotency_key: str | None = None

    def may_use(self, store_id: str) -> bool:
        return "*" in self.stores or store_id in self.stores

    def audit(self, store_id: str) -> Audit:
        return Audit(self.user_id, self.role, store_id, self.at, self.correlation_id,
                     self.idempotency_key)
