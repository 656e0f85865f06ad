"""The one shape of every list endpoint: `{total, limit, offset, items}`.

`total` counts everything the filters match; `items` are the ones from `offset` on, at most
`limit` of them. A list endpoint takes `limit` and `offset` as query parameters.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from api.numbers import Plain
from api.schemas import HistoryEntry

T = TypeVar("T")


class PageOf(BaseModel, Generic[T]):
    total: int = Field(description="how many match the filters")
    limit: int = Field(description="the page size asked for")
    offset: int = Field(description="how many were skipped")
    items: list[T] = Field(description="this page")


class Page(PageOf[dict[str, Any]]):
    """One page of a list."""


class HistoryPage(PageOf[HistoryEntry]):
    """One page of a stream's events, oldest first."""


Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many items"), Plain]
