"""Every route that takes a command answers a retry stored under its Idempotency-Key before it
runs (api/replays.py), so that a new route cannot check the clock, a read model or a stream
before the stored answer is looked up; and a route that adds to the command's answer says how,
so that its replay answers the same."""

from __future__ import annotations

import ast
import inspect
import textwrap
import threading
import types
from typing import Annotated, Any

import anyio.to_thread
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.db_deadline import DbDeadline
from api.deps import Command, command
from api.json_bodies import JsonBodyRoute, api_routes
from api.main import create_app
from api.replays import (
    COMMAND_ACTION,
    answer_of,
    answered_by,
    refuse_unreplayed,
    replay_first,
    replays_first,
    takes_a_command,
)
from domain.application import CommandResult
from domain.common import IdempotencyKeyReused


def _routes() -> list[APIRoute]:
    ctx = types.SimpleNamespace(app=types.SimpleNamespace(snapshots=None),
                                max_body_bytes=262144, db_deadline=DbDeadline())
    return list(api_routes(create_app(ctx).routes))  # type: ignore[arg-type]


COMMAND_ROUTES = [route for route in _routes() if takes_a_command(route)]


def test_every_route_that_takes_a_command_answers_a_stored_retry_first() -> None:
    assert len(COMMAND_ROUTES) >= 130  # every command of the API (136 when this was written)
    unreplayed = [route.path for route in COMMAND_ROUTES if not replays_first(route)]
    assert unreplayed == []
    # each is the wrapper that looks the key up, around the route's own function
    assert all(inspect.unwrap(route.endpoint) is not route.endpoint for route in COMMAND_ROUTES)


def _returns_and_header_writes(route: APIRoute) -> tuple[list[ast.expr], list[ast.stmt]]:
    source = textwrap.dedent(inspect.getsource(inspect.unwrap(route.endpoint)))
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    inner = {id(node) for child in ast.walk(function) if child is not function
             and isinstance(child, ast.FunctionDef | ast.Lambda) for node in ast.walk(child)}
    returns = [node.value for node in ast.walk(function)
               if isinstance(node, ast.Return) and id(node) not in inner and node.value]
    writes = [node for node in ast.walk(function) if isinstance(node, ast.Assign)
              and any("response" in ast.unparse(target) for target in node.targets)]
    return returns, writes


@pytest.mark.parametrize("route", COMMAND_ROUTES, ids=lambda route: route.path)
def test_a_route_that_adds_to_its_answer_makes_it_with_the_function_a_replay_uses(
        route: APIRoute) -> None:
    """Without `@answered_by`, the route answers `cmd.accepted(...)` and nothing else (a
    replay answers that); with it, the route returns its command's result and the named
    function makes both answers. A Location set, or fields added, in the route's own body would
    be missing from its replay."""
    returns, writes = _returns_and_header_writes(route)
    assert writes == [], f"{route.path}: set headers in its answer function (@answered_by)"
    shown = [ast.unparse(value) for value in returns]
    if answer_of(route) is None:
        assert shown and all(text.startswith("cmd.accepted(") for text in shown), shown
    else:
        assert all(".accepted(" not in text for text in shown), shown


def through(cmd: Annotated[Command, Depends(command("customers.register"))]) -> Command:
    """A dependency that hands on the command (the route's parameter is not the command's)."""
    return cmd


def test_the_app_does_not_start_with_a_command_route_that_does_not_replay_first() -> None:
    router = APIRouter()  # made without route_class=JsonBodyRoute

    @router.post("/checks-first")
    def checks_first(cmd: Annotated[Command, Depends(command("customers.register"))]) -> Any:
        return cmd.accepted(CommandResult({"id": "x", "version": 1}, 1))

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(RuntimeError, match="/checks-first"):
        refuse_unreplayed(api_routes(app.routes))
    replayed = APIRouter(route_class=JsonBodyRoute)
    replayed.post("/checks-first")(checks_first)
    refuse_unreplayed(replayed.routes)  # type: ignore[arg-type]

    @replayed.post("/through-another")  # the route never sees the command as its own
    def through_another(cmd: Annotated[Command, Depends(through)]) -> Any:
        return cmd.accepted(CommandResult({"id": "x", "version": 1}, 1))

    with pytest.raises(RuntimeError, match="/through-another"):
        refuse_unreplayed(replayed.routes)  # type: ignore[arg-type]


class FakeCommand:
    """What the wrapper uses of `api.deps.Command`: the stored answer, and `accepted`."""

    def __init__(self, stored: CommandResult | Exception | None) -> None:
        self._stored = stored
        self.response = types.SimpleNamespace(headers={})

    def stored(self) -> CommandResult | None:
        if isinstance(self._stored, Exception):
            raise self._stored
        return self._stored

    def accepted(self, result: CommandResult) -> dict[str, Any]:
        return {**result.body, "replayed": result.replayed}


STORED = CommandResult({"id": "wo-1", "version": 3}, 42, replayed=True)
MADE = CommandResult({"id": "wo-2", "version": 1}, 43)
Cmd = Annotated[Command, Depends(command("work_orders.open"))]


def _opened(result: CommandResult, *, cmd: FakeCommand, store_id: str, **_: Any) -> Any:
    return {**cmd.accepted(result), "store_id": store_id}


def test_a_stored_answer_is_answered_without_running_the_route() -> None:
    ran: list[str] = []

    def plain(store_id: str, cmd: Cmd) -> Any:
        ran.append(store_id)
        raise AssertionError("the clock says no")

    @answered_by(_opened)
    def extended(store_id: str, cmd: Cmd) -> Any:
        ran.append(store_id)
        return MADE

    assert replay_first(plain)(store_id="S01", cmd=FakeCommand(STORED)) == \
        {"id": "wo-1", "version": 3, "replayed": True}
    assert replay_first(extended)(store_id="S01", cmd=FakeCommand(STORED)) == \
        {"id": "wo-1", "version": 3, "replayed": True, "store_id": "S01"}
    assert ran == []
    # nothing stored: the route runs, and its answer function answers its result
    assert replay_first(extended)(store_id="S02", cmd=FakeCommand(None)) == \
        {"id": "wo-2", "version": 1, "replayed": False, "store_id": "S02"}
    assert ran == ["S02"]
    # the same key with another request: refused before the route runs
    with pytest.raises(IdempotencyKeyReused):
        replay_first(plain)(store_id="S03", cmd=FakeCommand(IdempotencyKeyReused("other")))
    assert ran == ["S02"]


def test_an_answer_function_takes_only_what_the_route_takes_and_a_route_is_plain() -> None:
    @answered_by(_opened)
    def without_store(cmd: Cmd) -> Any:
        return MADE

    with pytest.raises(TypeError, match="store_id"):
        replay_first(without_store)

    async def waits(cmd: Cmd) -> Any:
        return MADE

    with pytest.raises(TypeError, match="plain function"):
        replay_first(waits)

    def reads(store_id: str) -> Any:  # takes no command: left as it is
        return store_id

    assert replay_first(reads) is reads


THREADS: dict[str, threading.Thread] = {}


async def loop_command() -> FakeCommand:
    THREADS["loop"] = threading.current_thread()
    return FakeCommand(None)


setattr(loop_command, COMMAND_ACTION, "work_orders.open")


class Accepted(BaseModel):
    id: str
    version: int


def test_a_command_route_runs_in_the_thread_pool_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command runs off the event loop, and its answer is validated against the route's
    response model there, not in a second trip through the pool (api/replays.py one_hop)."""
    trips: list[Any] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    THREADS.clear()
    router = APIRouter(route_class=JsonBodyRoute)

    @router.post("/visits", response_model=Accepted)
    def open_visit(cmd: Annotated[FakeCommand, Depends(loop_command)]) -> Any:
        THREADS["command"] = threading.current_thread()
        return cmd.accepted(MADE)

    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        answered = client.post("/visits")
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"id": "wo-2", "version": 1}  # the model's fields only
    assert THREADS["command"] is not THREADS["loop"]
    assert len(trips) == 1
