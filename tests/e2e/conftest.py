"""Fixtures of the HTTP tests beyond the shared ones: an API process of a group whose stores are
configured (`SERVICECORE_STORES`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container, build
from tests.conftest import settings_for


@pytest.fixture
def group_stores(store_id: str) -> tuple[str, str]:
    return store_id, store_id + "B"


@pytest.fixture
def group_client(container: Container, database_url: str, tmp_path: Path,
                 group_stores: tuple[str, str]) -> Iterator[TestClient]:
    """An API process of a group whose stores are configured (the shared one's are not)."""
    system = build(settings_for(database_url, tmp_path, create_tables=False,
                                stores=list(group_stores)))
    try:
        with TestClient(create_app(system.api_context())) as http:
            yield http
    finally:
        system.close()
