"""Shared fixtures: a real PostgreSQL database per test session, the system, an HTTP client;
the hypothesis profiles (tests/hypothesis_profiles.py).

The server is the one named by DATABASE_URL, or else the embedded one under var/. Each session
creates its own database and drops it afterwards: the event tables refuse DELETE and TRUNCATE,
so a shared database could never be cleaned.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import mint_token
from api.main import create_app
from servicecore.container import Container, build, migrate
from servicecore.embedded import embedded_database_url
from servicecore.roles import DatabaseUrls
from servicecore.settings import Settings
from tests import hypothesis_profiles  # noqa: F401  (registers and loads the profiles)
from tests.databases import app_role_url, scratch_database

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "test-secret-not-for-production-0123456789"


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded_database_url(ROOT / "var" / "test")


@pytest.fixture(scope="session")
def owner_database_url(server_url: str) -> Iterator[str]:
    """The session's own database, as its owner (the server's superuser)."""
    with scratch_database(server_url, "sc_test") as url:
        yield url


@pytest.fixture(scope="session")
def database_url(owner_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The application's role on the session database: migrated by the owner, then every test
    runs with the rights the API and the workers have in production (servicecore/roles.py).
    A server that will not let the role in without a password falls back to one role."""
    app_url = app_role_url(owner_database_url)
    migrate(DatabaseUrls(owner=owner_database_url, app=app_url),
            settings_for(app_url, tmp_path_factory.mktemp("migrate")))
    return app_url


def settings_for(database_url: str, tmp: Path, **overrides: object) -> Settings:
    """The tests' settings: the online booking retention's timer off unless asked for (a
    round in the session's process would expire the requests a test made long ago before
    the test's own run does)."""
    return Settings(database_url=database_url, data_dir=tmp, jwt_secret=JWT_SECRET,
                    **{"online_booking_sweep_seconds": 0, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def container(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    system = build(settings_for(database_url, tmp_path_factory.mktemp("var")))
    system.start_projections()
    yield system
    system.close()


@pytest.fixture(scope="module")
def other(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A second ServiceCore process on the session's database (as a second API process would
    be; no projections, tables already made): the concurrent writer, one for each module."""
    system = build(settings_for(database_url, tmp_path_factory.mktemp("other"),
                                create_tables=False))
    yield system
    system.close()


class PatientClient(TestClient):
    """A client that does what the API asks of one when a read's view has not applied its
    `wait_for` within the read wait's bound (503 read-model-behind, Retry-After): it reads
    again, a few times. On a machine crowded by other work a view may lag its runner's usual
    pace for seconds; the tests are about the answers, not that pace."""

    BEHIND_TRIES = 6

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        for _ in range(self.BEHIND_TRIES):
            response = super().request(method, url, *args, **kwargs)
            if method.upper() != "GET" or response.status_code != 503 \
                    or "X-Read-Model-Stale" not in response.headers:
                return response
        return response


@pytest.fixture(scope="session")
def client(container: Container) -> Iterator[TestClient]:
    with PatientClient(create_app(container.api_context())) as http:
        yield http


@pytest.fixture(scope="session")
def auth() -> Callable[..., dict[str, str]]:
    """Headers for a bearer token: auth("advisor", user="adv1", stores=["S01"])."""

    def headers(role: str, user: str | None = None, stores: list[str] | None = None,
                **extra: str) -> dict[str, str]:
        token = mint_token(JWT_SECRET, user or f"{role}-1", role, stores or ["*"])
        return {"Authorization": f"Bearer {token}", **extra}

    return headers


@pytest.fixture
def store_id() -> str:
    """A store of its own for each test, so numbering and lists are not shared."""
    return "T" + uuid.uuid4().hex[:6].upper()


class _SnapshotFailures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "taking a snapshot failed" in record.getMessage():
            self.messages.append(f"{record.getMessage()}: {record.exc_info and record.exc_info[1]}")


@pytest.fixture(scope="session", autouse=True)
def snapshots_never_fail() -> Iterator[None]:
    """A snapshot that cannot be taken is only logged in production (the events are stored);
    in the tests every aggregate the suite drives past a snapshot interval must snapshot."""
    handler = _SnapshotFailures()
    logging.getLogger("domain.application").addHandler(handler)
    yield
    logging.getLogger("domain.application").removeHandler(handler)
    assert not handler.messages, handler.messages[:3]


@pytest.fixture(autouse=True)
def own_witness_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A command line run by a test (`audit anchor | verify`) witnesses to a file of the
    test's own, never to ./var of the checkout, which another test's verify would read."""
    monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(tmp_path / "witness.jsonl"))


@pytest.fixture(autouse=True)
def root_logging_as_it_was() -> Iterator[None]:
    """A command line run in-process (`servicecore audit verify`, ...) puts its own handler on
    the root logger, writing to the stderr pytest captured for that test: once the capture is
    closed, every later log record of the session failed to print ("Logging error ... I/O
    operation on closed file"). Such handlers go when the test ends; pytest's own stay."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:  # pytest's handlers are subclasses
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)
