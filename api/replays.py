"""A command retried with its Idempotency-Key is answered what was stored, before anything else.

Every route whose `Command` comes from `api.deps.command` is made replay-first by the route
class (`JsonBodyRoute`, api/json_bodies.py): once its dependencies have run (the token checked,
so a token that may no longer do the action is 403; the body parsed and validated), the answer
remembered for the caller's key is looked up, and a command that was stored is answered that,
without the route's own checks or its service's (the clock, a read model, the state of a
stream, each of which may have moved on since the first attempt, whose answer was lost). The
same key with another request is 422 there, as it was from the command. Found none, the
envelope says so (`Request.key_looked_up`) and `ServiceCore.execute`'s first attempt does not
read the key again; a retry racing its first attempt in another API process and stored in
between makes the save conflict on the key's record, and the refusal (If-Match) or the next
attempt answers what was stored.

A command route's function runs in the thread pool once: `one_hop` makes it a coroutine that
hands it to the pool itself. FastAPI runs a plain function in the pool, and then validates its
answer against the route's `response_model` in a second trip through the pool; for a
coroutine it validates on the event loop (a command's answer is a few fields). The command
still never runs on the event loop.

A route that answers more than `Command.accepted` gives (a Location, the car's open campaigns,
a link's URL) names the function that makes its answer, `@answered_by(answer)`, and returns the
`CommandResult`: the same function answers the first attempt and a replay, from the stored
result and the route's arguments. The app does not start with a command route that is not
replay-first (`refuse_unreplayed`); tests/unit/test_replay_first_routes.py checks that a route
that adds to its answer says how.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, Protocol, get_args

from fastapi import Response, params
from fastapi.dependencies.utils import get_typed_signature
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from domain.session import CommandResult

COMMAND_ACTION = "servicecore_command_action"  # on the dependency `api.deps.command` makes
_ANSWER = "servicecore_answer"  # on an endpoint: the function that makes its answer
_REPLAY_FIRST = "servicecore_replay_first"  # on a wrapped endpoint: its command's parameter

Answer = Callable[..., Any]


class Stored(Protocol):
    """What a replay needs of `api.deps.Command` (not imported: api.deps imports the route
    class's module)."""

    response: Response

    def stored(self) -> CommandResult | None: ...

    def accepted(self, result: CommandResult) -> dict[str, Any]: ...


def answered_by(answer: Answer) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The route's answer is `answer(result, **the route's arguments)`, for the result its
    command made and for the one a retry finds stored; the route returns the result."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        setattr(endpoint, _ANSWER, answer)
        return endpoint

    return mark


def located(template: str) -> Answer:
    """The answer `Command.accepted` gives, with a Location made from the answer's body
    (`"/customers/{id}"`, `"/work-orders/{follow_on[id]}"`)."""

    def answer(result: CommandResult, *, cmd: Stored, **_: Any) -> Any:
        made = cmd.accepted(result)
        cmd.response.headers["Location"] = template.format_map(result.body)
        return made

    return answer


def command_parameter(endpoint: Callable[..., Any]) -> str | None:
    """The name of the endpoint's parameter that `api.deps.command` makes, if it has one."""
    for param in get_typed_signature(endpoint).parameters.values():
        marks = [*get_args(param.annotation)[1:], param.default]
        if any(isinstance(mark, params.Depends)
               and hasattr(mark.dependency, COMMAND_ACTION) for mark in marks):
            return param.name
    return None


def replay_first(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, answering a stored command's answer before it runs if it takes a command
    (unchanged otherwise)."""
    name = command_parameter(endpoint)
    if name is None:
        return endpoint
    if inspect.iscoroutinefunction(endpoint):  # its service blocks: FastAPI runs it in a thread
        raise TypeError(f"{endpoint.__qualname__}: a command route is a plain function")
    answer: Answer | None = getattr(endpoint, _ANSWER, None)
    if answer is not None:
        taken = set(inspect.signature(endpoint).parameters)
        wanted = {p.name for p in inspect.signature(answer).parameters.values()
                  if p.kind is p.KEYWORD_ONLY}
        if not wanted <= taken:
            raise TypeError(f"{endpoint.__qualname__}: its answer takes {sorted(wanted - taken)}"
                            ", which the route does not")

    @functools.wraps(endpoint)
    def first(**values: Any) -> Any:
        command: Stored = values[name]
        stored = command.stored()
        if stored is not None:
            return command.accepted(stored) if answer is None else answer(stored, **values)
        made = endpoint(**values)
        if answer is not None and isinstance(made, CommandResult):
            return answer(made, **values)
        return made

    setattr(first, _REPLAY_FIRST, name)
    return first


def one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A replay-first command route's function (`replay_first`) as a coroutine that runs it in
    the thread pool: one trip through the pool per command instead of two (its answer is
    then validated on the event loop). Any other endpoint is left as it is."""
    if not hasattr(endpoint, _REPLAY_FIRST) or inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def hop(**values: Any) -> Any:
        return await run_in_threadpool(endpoint, **values)

    return hop


def takes_a_command(route: APIRoute) -> bool:
    """Whether what FastAPI solves for the route includes a dependency `api.deps.command`
    made (as the route's own parameter or further down)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if hasattr(dependant.call, COMMAND_ACTION):
            return True
        pending += dependant.dependencies
    return False


def replays_first(route: APIRoute) -> bool:
    """Whether the route answers a stored command first (or takes no command)."""
    return hasattr(route.endpoint, _REPLAY_FIRST) or not takes_a_command(route)


def answer_of(route: APIRoute) -> Answer | None:
    """The function that makes the route's answer, if it names one (`answered_by`)."""
    return getattr(inspect.unwrap(route.endpoint), _ANSWER, None)


def refuse_unreplayed(routes: Iterable[APIRoute]) -> None:
    """Stop at start-up if a route takes a command without answering a stored one first (a
    router made without `route_class=JsonBodyRoute`, a command taken through another
    dependency rather than as the route's parameter)."""
    missing = sorted({route.path for route in routes if not replays_first(route)})
    if missing:
        raise RuntimeError("command routes that would run their checks before answering a "
                           f"retry stored under its Idempotency-Key: {', '.join(missing)}")
