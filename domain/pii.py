"""Personal data sealed per customer (AES-GCM); deleting a customer's key erases it everywhere.

Events carry sealed tokens, never plaintext. The key store is a mutable table outside the
event store, so erasure (PIPL) deletes one key and leaves every event untouched and verifiable.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ERASED = "[erased]"
TOKEN_PREFIX = "pii1:"  # every sealed field starts with it (audit verify's key check looks)
_PREFIX = TOKEN_PREFIX


class KeyStore(Protocol):
    def get_key(self, customer_id: UUID) -> bytes | None: ...

    def get_keys(self, customer_ids: Iterable[UUID]) -> dict[UUID, bytes]: ...

    def create_key(self, customer_id: UUID) -> bytes:
        """The customer's key, created if there is none yet."""
        ...

    def delete_key(self, customer_id: UUID) -> bool: ...


class PersonalData:
    """Seals and opens personal fields with the customer's own key."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def seal(self, customer_id: UUID, plaintext: str | None) -> str | None:
        return self.seal_fields(customer_id, {"value": plaintext})["value"]

    def seal_fields(self, customer_id: UUID, fields: dict[str, str | None]) -> dict[str, str | None]:
        """Seal several fields with one key look-up (the key is created on first use)."""
        if all(value is None for value in fields.values()):
            return dict(fields)
        cipher = AESGCM(self.keys.create_key(customer_id))
        return {name: None if value is None else _seal(cipher, customer_id, value)
                for name, value in fields.items()}

    def seal_with_kept_key(self, customer_id: UUID, plaintext: str) -> str:
        """Sealed with the customer's key if they still have one; ERASED once it is deleted
        (no key is made again for an erased customer)."""
        key = self.keys.get_key(customer_id)
        return ERASED if key is None else _seal(AESGCM(key), customer_id, plaintext)

    def open(self, customer_id: UUID, token: str | None) -> str | None:
        """The plaintext, or ERASED once the customer's key has been deleted."""
        if token is None:
            return None
        return _open(self.keys.get_key(customer_id), customer_id, token)

    def open_fields(self, customer_id: UUID, sealed: dict[str, str | None]) -> dict[str, str | None]:
        key = self.keys.get_key(customer_id)
        return {name: None if token is None else _open(key, customer_id, token)
                for name, token in sealed.items()}

    def prefetched(self, customer_ids: Iterable[UUID]) -> tuple[
            Callable[[UUID, str | None], str | None], Callable[[UUID], None]]:
        """An opener over keys fetched in one query, and a way to forget an erased key."""
        keys = self.keys.get_keys(set(customer_ids))

        def open_token(customer_id: UUID, token: str | None) -> str | None:
            if token is None:
                return None
            if customer_id not in keys:
                found = self.keys.get_key(customer_id)
                if found is None:
                    return ERASED
                keys[customer_id] = found
            return _open(keys[customer_id], customer_id, token)

        def forget(customer_id: UUID) -> None:
            keys.pop(customer_id, None)

        return open_token, forget


def is_sealed(value: object) -> bool:
    """Whether `value` is a sealed token (not clear text, not ERASED)."""
    return isinstance(value, str) and value.startswith(_PREFIX)


def key_opens(key: bytes, customer_id: UUID, token: str) -> bool:
    """Whether `key` opens `token`, sealed for `customer_id`: AES-GCM authenticates, so another
    customer's key, fresh bytes or an edited key fail (as does a key of the wrong length)."""
    try:
        _open(key, customer_id, token)
    except (InvalidTag, ValueError):  # ValueError: key length, base64, text
        return False
    return True


def _seal(cipher: AESGCM, customer_id: UUID, plaintext: str) -> str:
    nonce = os.urandom(12)
    sealed = cipher.encrypt(nonce, plaintext.encode(), customer_id.bytes)
    return _PREFIX + base64.b64encode(nonce + sealed).decode()


def _open(key: bytes | None, customer_id: UUID, token: str) -> str:
    if not token.startswith(_PREFIX):
        raise ValueError("not a sealed personal-data token")
    if key is None:
        return ERASED
    raw = base64.b64decode(token[len(_PREFIX) :])
    return AESGCM(key).decrypt(raw[:12], raw[12:], customer_id.bytes).decode()


class MemoryKeyStore:
    """Keys in a dict: for unit tests of the domain."""

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes] = {}

    def get_key(self, customer_id: UUID) -> bytes | None:
        return self._keys.get(customer_id)

    def get_keys(self, customer_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        return {c: self._keys[c] for c in customer_ids if c in self._keys}

    def create_key(self, customer_id: UUID) -> bytes:
        return self._keys.setdefault(customer_id, AESGCM.generate_key(bit_length=256))

    def delete_key(self, customer_id: UUID) -> bool:
        return self._keys.pop(customer_id, None) is not None
