"""How a work-order doc holds a value of an event's stored state (projections/work_order_doc.py).

A transcoded value (`{"_type_": ..., "_data_": ...}`) becomes its plain form (`plain`), as a
jsonb column gives it back; `decoded` gives it as the domain event held it, `text` as the old
code printed it with `str()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

Doc = dict[str, Any]
State = dict[str, Any]

# The library's transcodings: each value decoded (as its `decode` does) ...
_DECODE: dict[str, Callable[[Any], Any]] = {
    "decimal_str": Decimal, "uuid_hex": UUID, "datetime_iso": datetime.fromisoformat}
# ... and as a doc keeps it (as `dumps` writes it): str(Decimal) and isoformat() are what the
# transcodings stored, so only a UUID changes (hex to the dashed form).
_PLAIN: dict[str, Callable[[Any], Any]] = {
    "decimal_str": str, "uuid_hex": lambda data: str(UUID(data)), "datetime_iso": str}


def _transcoded(value: dict[str, Any]) -> bool:
    return len(value) == 2 and "_type_" in value and "_data_" in value


def _convert(value: Any, forms: dict[str, Callable[[Any], Any]]) -> Any:
    kind = type(value)
    if kind is dict:
        if _transcoded(value):
            name = value["_type_"]
            if name not in forms:
                raise ValueError(f"a work-order doc cannot hold a {name!r} value")
            return forms[name](value["_data_"])
        return {key: _convert(item, forms) if type(item) in _CONTAINERS else item
                for key, item in value.items()}
    if kind is list:
        return [_convert(item, forms) if type(item) in _CONTAINERS else item for item in value]
    return value


_CONTAINERS = (dict, list)


def plain(value: Any) -> Any:
    """A stored value as a jsonb column gives it back (a new object: the state is not shared)."""
    return _convert(value, _PLAIN)


def decoded(value: Any) -> Any:
    """A stored value as the domain event held it (Decimal, UUID, datetime)."""
    return _convert(value, _DECODE)


def text(value: Any) -> str:
    return str(decoded(value))
