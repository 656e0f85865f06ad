"""Which database errors are an outage (503, retry) and which are a fault (500, logged)."""

from __future__ import annotations

import psycopg
import psycopg_pool
import pytest
from eventsourcing import persistence
from psycopg import errors

from api.errors import unavailable


def wrapped(error: BaseException, outer: type[Exception]) -> Exception:
    """`error` as the event store raises it: its own exception, caused by psycopg's."""
    try:
        raise outer(str(error)) from error
    except outer as exc:
        return exc


@pytest.mark.parametrize("error", [
    errors.AdminShutdown("terminating connection due to administrator command"),
    errors.CrashShutdown("terminating connection because of crash of another server process"),
    errors.CannotConnectNow("the database system is starting up"),
    errors.TooManyConnections("sorry, too many clients already"),
    psycopg.OperationalError("server closed the connection unexpectedly"),  # no SQLSTATE
    psycopg.InterfaceError("the connection is closed"),
    psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec"),
    # the server gave up on the statement and rolled it back: busy, not wrong
    errors.QueryCanceled("canceling statement due to statement timeout"),
    errors.LockNotAvailable("canceling statement due to lock timeout"),
    errors.SerializationFailure("could not serialize access"),
    errors.DeadlockDetected("deadlock detected"),
])
def test_an_outage_is_unavailable_directly_or_wrapped(error: Exception) -> None:
    assert unavailable(error)
    assert unavailable(wrapped(error, persistence.OperationalError))
    assert unavailable(wrapped(wrapped(error, persistence.OperationalError), RuntimeError))


def test_the_event_store_giving_up_on_its_own_is_unavailable() -> None:
    assert unavailable(persistence.OperationalError("save x: the database refused it 5 times"))
    assert unavailable(persistence.ConnectionUnavailableError("no connection in the pool"))


@pytest.mark.parametrize("error", [
    errors.UniqueViolation("duplicate key value"),
    errors.UndefinedTable('relation "x" does not exist'),
    psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
    ValueError("not a database error at all"),
])
def test_a_fault_is_not_unavailable(error: Exception) -> None:
    assert not unavailable(error)
    assert not unavailable(wrapped(error, persistence.OperationalError))


def test_a_save_left_undecided_is_503_naming_its_command_for_the_lookup() -> None:
    import json
    from uuid import uuid4

    from api.errors import database_unavailable_problem
    from servicecore.event_store import CommitUnknown

    command_id = uuid4()
    undecided = wrapped(CommitUnknown("save: could not tell", command_id), RuntimeError)
    assert unavailable(undecided)
    answer = database_unavailable_problem(undecided)
    body = json.loads(answer.body)
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "2")
    assert body["command_id"] == str(command_id)
    assert f"GET /commands/{command_id}" in body["detail"]
    # Undecided is 503 whatever the event store met while it tried to decide.
    from servicecore.event_store import SaveRefused
    odd = wrapped(errors.UndefinedTable('relation "x" does not exist'), CommitUnknown)
    odd.command_id = command_id  # type: ignore[attr-defined]
    assert unavailable(odd)
    # A save the server refused with a busy state is decided: 503 naming no command.
    refused = wrapped(errors.LockNotAvailable("lock timeout"), SaveRefused)
    answer = database_unavailable_problem(refused)
    assert answer.status_code == 503 and "command_id" not in json.loads(answer.body)
    assert "lock timeout" in json.loads(answer.body)["detail"]
    assert "nothing of the command was stored" in json.loads(answer.body)["detail"]
    # A read the server gave up on says nothing of a save (one may have come before it).
    read = json.loads(database_unavailable_problem(errors.QueryCanceled("timeout")).body)
    assert "statement timeout" in read["detail"] and "stored" not in read["detail"]
    assert not unavailable(wrapped(errors.UndefinedTable("x"), SaveRefused))
    # An outage with no save in flight names no command.
    plain = database_unavailable_problem(psycopg_pool.PoolTimeout("no connection"))
    assert "command_id" not in json.loads(plain.body)
