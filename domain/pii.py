"""Personal data sealed per customer (AES-GCM); deleting a customer's key erases it everywhere.

Events carry sealed tokens, never plaintext. The key store is a mutable table outside the
event store, so erasure (PIPL) deletes one key and leaves every event untouched and verifiable.
"""

from __future__ import annotations

import base64
import os
from typing import Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ERASED = "[erased]"
_PREFIX = "pii1:"


class KeyStore(Protocol):
    def get_key(self, customer_id: UUID) -> bytes | None: ...

    def create_key(self, customer_id: UUID) -> bytes: ...

    def delete_key(self, customer_id: UUID) -> bool: ...


class PersonalData:
    """Seals and opens personal fields with the customer's own key."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def seal(self, customer_id: UUID, plaintext: str | None) -> str | None:
        if plaintext is None:
            return None
        key = self.keys.get_key(customer_id) or self.keys.create_key(customer_id)
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), customer_id.bytes)
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, customer_id: UUID, token: str | None) -> str | None:
        """The plaintext, or ERASED once the customer's key has been deleted."""
        if token is None:
            return None
        if not token.startswith(_PREFIX):
            raise ValueError("not a sealed personal-data token")
        key = self.keys.get_key(customer_id)
        if key is None:
            return ERASED
        raw = base64.b64decode(token[len(_PREFIX) :])
        return AESGCM(key).decrypt(raw[:12], raw[12:], customer_id.bytes).decode()

    def open_fields(self, customer_id: UUID, sealed: dict[str, str | None]) -> dict[str, str | None]:
        return {name: self.open(customer_id, token) for name, token in sealed.items()}


class MemoryKeyStore:
    """Keys in a dict: for unit tests of the domain."""

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes] = {}

    def get_key(self, customer_id: UUID) -> bytes | None:
        return self._keys.get(customer_id)

    def create_key(self, customer_id: UUID) -> bytes:
        return self._keys.setdefault(customer_id, AESGCM.generate_key(bit_length=256))

    def delete_key(self, customer_id: UUID) -> bool:
        return self._keys.pop(customer_id, None) is not None
