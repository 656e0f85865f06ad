"""A system of its own on a database of its own, for the tests that tamper with what is stored
(with the owner's rights, behind the application's back) and so cannot share the session's
database. The database is dropped afterwards, the system closed first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container, build, migrate
from servicecore.roles import DatabaseUrls
from tests.conftest import settings_for
from tests.databases import app_role_url, scratch_database


@contextmanager
def scratch_system(server_url: str, prefix: str, tmp: Path) -> Iterator[tuple[Container, str]]:
    """The composition root on a new database `<prefix>_<random>`, connected as its owner:
    (the system, the database's URL)."""
    with scratch_database(server_url, prefix) as url:
        system = build(settings_for(url, tmp))
        try:
            yield system, url
        finally:
            system.close()


@dataclass
class ServedScratch:
    """A system served over HTTP on a database of its own, and the URLs of that database."""

    system: Container
    client: TestClient
    owner_url: str  # the tamperer's rights
    app_url: str  # the application's role, as the system connects


@contextmanager
def served_scratch(server_url: str, prefix: str, tmp: Path,
                   projections: bool = False) -> Iterator[ServedScratch]:
    """A new database `<prefix>_<random>` migrated by its owner and served through the
    application's role, as in production; with `projections`, its views followed in the
    background as the session's system follows its own (for reads that wait for them)."""
    with scratch_database(server_url, prefix) as owner_url:
        app_url = app_role_url(owner_url)
        migrate(DatabaseUrls(owner=owner_url, app=app_url), settings_for(app_url, tmp))
        system = build(settings_for(app_url, tmp))
        try:
            if projections:
                system.start_projections()
            with TestClient(create_app(system.api_context())) as client:
                yield ServedScratch(system, client, owner_url, app_url)
        finally:
            system.close()


def module_container(prefix: str, name: str = "container") -> Any:
    """A fixture `name` for a module whose tests read the whole log (load, rebuild, verify or
    replay it from event 0): a system of the module's own on a database `<prefix>_<random>`,
    so what they read is their own events, not every earlier test's, however long the suite."""

    @pytest.fixture(scope="module", name=name)
    def container(server_url: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
        with scratch_system(server_url, prefix, tmp_path_factory.mktemp(prefix)) as made:
            yield made[0]

    return container


def served_module(prefix: str, projections: bool = False) -> Any:
    """The fixtures `container` and `client` for a module whose tests drive the system over
    HTTP and read the whole log: a served system of the module's own (`served_scratch`) on a
    database `<prefix>_<random>`, in place of the session's."""

    @pytest.fixture(scope="module")
    def served(server_url: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedScratch]:
        with served_scratch(server_url, prefix, tmp_path_factory.mktemp(prefix),
                            projections) as made:
            yield made

    @pytest.fixture(scope="module")
    def container(served: ServedScratch) -> Container:
        return served.system

    @pytest.fixture(scope="module")
    def client(served: ServedScratch) -> TestClient:
        return served.client

    return served, container, client
