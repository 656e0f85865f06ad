"""/insurers: the insurer master (register, names, aliases, deactivate; managers) and its
reads. An insurer is named in the path by its code or its id; a reference that names no
insurer is 404 on every route."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.as_of import AsOf, existed_then, requested_moment
from api.deps import Command, Ctx, Offset, WaitFor, command, reader, wait_for_projection
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, PageOf
from api.replays import answered_by, located
from api.schemas import REASON, Body, CommandAccepted, example
from domain.common import NotFound
from domain.insurer_master import MAX_ALIASES, MAX_NAME, insurer_named
from domain.insurers import Insurers
from projections.insurers import get_insurer, list_insurers
from projections.master_as_of import insurer_as_of

router = APIRouter(prefix="/insurers", tags=["insurers"], route_class=JsonBodyRoute)
VIEW = "finance"
Reader = Depends(reader("insurers.read"))
ManageCmd = Annotated[Command, Depends(command("insurers.manage"))]
# A reference of the right length and printable names an insurer or is 404 (a name, a code
# with a character no code has, another stream's id); a longer one, or a control character, 422.
InsurerRef = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$",
                                 description="the insurer's code, or its id")]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class InsurerIn(Body):
    model_config = example({"code": "PINGAN", "name": "中国平安财产保险股份有限公司",
                            "short_name": "中国平安", "aliases": ["平安产险", "Ping An"]})

    code: str = Field(min_length=1, max_length=20,
                      description="the insurer's stable code: letters, digits, '-', '_'")
    name: Name = Field(description="the official name")
    short_name: Name = Field(description="the name shown in lists")
    aliases: list[Name] = Field(default_factory=list, max_length=MAX_ALIASES,
                                description="other names its claims are typed under")


class NamesIn(Body):
    model_config = example({"short_name": "平安财险", "reason": "the insurer's new brand"})

    name: Name | None = None
    short_name: Name | None = None
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class AliasesIn(Body):
    model_config = example({"add": ["PingAn P&C"], "remove": [], "reason": "seen on claims"})

    add: list[Name] = Field(default_factory=list, max_length=MAX_ALIASES)
    remove: list[Name] = Field(default_factory=list, max_length=MAX_ALIASES)
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class InsurerOut(BaseModel):
    id: UUID
    code: str
    name: str = Field(description="the official name")
    short_name: str
    aliases: list[str]
    active: bool = Field(description="false once deactivated (its names still group its bills)")
    registered_at: datetime
    updated_at: datetime
    version: int
    as_of: datetime | None = Field(default=None, description=(
        "with `?as_of=`: the moment the insurer was replayed to (absent otherwise)"))


class InsurerPage(PageOf[InsurerOut]):
    """One page of the insurer master, by code."""


class DeactivateIn(Body):
    model_config = example({"reason": "no longer a direct-settlement partner"})

    reason: str = Field(min_length=1, max_length=500, description=REASON)


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(located("/insurers/{code}"))
def register_insurer(body: InsurerIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return Insurers(ctx.app).register(cmd.envelope, code=body.code, name=body.name,
                                      short_name=body.short_name, aliases=body.aliases)


@router.patch("/{insurer}", response_model=CommandAccepted)
def rename_insurer(insurer: InsurerRef, body: NamesIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """The official and/or short name, with the reason."""
    return cmd.accepted(Insurers(ctx.app).rename(
        cmd.envelope, insurer, name=body.name, short_name=body.short_name, reason=body.reason))


@router.post("/{insurer}/aliases", response_model=CommandAccepted)
def change_aliases(insurer: InsurerRef, body: AliasesIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """Aliases added and removed; a name another insurer has is 409, naming it."""
    return cmd.accepted(Insurers(ctx.app).change_aliases(
        cmd.envelope, insurer, add=body.add, remove=body.remove, reason=body.reason))


@router.post("/{insurer}/deactivation", response_model=CommandAccepted)
def deactivate_insurer(insurer: InsurerRef, body: DeactivateIn, cmd: ManageCmd,
                       ctx: Ctx) -> Any:
    return cmd.accepted(Insurers(ctx.app).deactivate(cmd.envelope, insurer,
                                                     reason=body.reason))


@router.get("", dependencies=[Reader], response_model=InsurerPage)
def find_insurers(ctx: Ctx, q: str | None = Query(default=None, max_length=MAX_NAME,
                                                  description="a code, name or alias"),
                  active: bool | None = None,
                  limit: Annotated[int, Query(ge=1, le=500), Plain] = 100,
                  offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_insurers(conn, q=q, active=active, limit=limit, offset=offset)


@router.get("/{insurer}", dependencies=[Reader], response_model=InsurerOut,
            response_model_exclude_unset=True)
def insurer_detail(insurer: InsurerRef, ctx: Ctx, as_of: AsOf = None,
                   wait_for: WaitFor = None) -> Any:
    """The insurer; with `as_of` (a moment, or a day: its end in the store's time zone) its
    names, aliases and whether it was active then, replayed from its events (404 before it was
    registered; `wait_for` does not apply)."""
    moment = requested_moment(as_of, ctx)
    insurer_id = insurer_named(insurer)
    if moment is not None:
        return existed_then(None if insurer_id is None else insurer_as_of(
            ctx.app, insurer_id, moment), f"insurer {insurer}", moment)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = None if insurer_id is None else get_insurer(conn, insurer_id)
    if found is None:
        raise NotFound(f"insurer {insurer} is not in the insurer master")
    return found


@router.get("/{insurer}/history", response_model=HistoryPage,
            dependencies=[Depends(reader("insurers.audit"))])
def insurer_history(insurer: InsurerRef, ctx: Ctx, limit: Limit = 500,
                    offset: Offset = 0) -> Any:
    """Every change to the insurer: who, when, why (the history of no other stream)."""
    insurer_id = insurer_named(insurer)
    refusal = f"insurer {insurer} is not in the insurer master"
    if insurer_id is None:
        raise NotFound(refusal)
    return stream_history(ctx, insurer_id, "Insurer", None, refusal, limit=limit,
                          offset=offset).page
