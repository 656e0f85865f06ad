"""A dealership's database restored from last night's backup, for the tests of what lies outside
it (the DuckDB file, the witness file, Kafka's topics): a database of the test's own, copied
at a point (`take_backup`), worked on further, then put back as the copy holds it (`restore`)
and served again, new commands getting notification ids the lost events had."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from servicecore.container import Container, build, migrate
from servicecore.roles import DatabaseUrls
from tests.conftest import settings_for
from tests.databases import app_role_url, backup, drop, restore, scratch_database


@dataclass
class Restorable:
    server_url: str
    owner_url: str
    app_url: str
    tmp: Path
    copies: list[str] = field(default_factory=list)
    system: Container | None = None

    def start(self, **settings: object) -> Container:
        """The system on the database as it is now (the one before closed first)."""
        self.stop()
        self.system = build(settings_for(self.app_url, self.tmp, **settings))
        return self.system

    def stop(self) -> None:
        if self.system is not None:
            self.system.close()
            self.system = None

    def take_backup(self) -> str:
        """Last night's backup: the database as it stands now (the system is closed first)."""
        self.stop()
        self.copies.append(backup(self.server_url, self.owner_url))
        return self.copies[-1]

    def restore(self, copy: str | None = None) -> None:
        """The disk failed: the database is what the backup holds (the system closed)."""
        self.stop()
        restore(self.server_url, self.owner_url, copy or self.copies[-1])


@contextmanager
def restorable(server_url: str, prefix: str, tmp: Path) -> Iterator[Restorable]:
    with scratch_database(server_url, prefix) as owner_url:
        app_url = app_role_url(owner_url)
        migrate(DatabaseUrls(owner=owner_url, app=app_url), settings_for(app_url, tmp))
        made = Restorable(server_url, owner_url, app_url, tmp)
        try:
            yield made
        finally:
            made.stop()
            for copy in made.copies:
                drop(server_url, copy)
