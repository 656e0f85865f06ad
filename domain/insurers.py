"""Insurer master commands: register, rename, change aliases, deactivate (managers).

Each command saves the insurer with the name reservations it takes and lets go
(domain/insurer_master.py `InsurerName`) in one save: a name taken by another insurer refuses
the whole command, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import Audit, IllegalTransition, NotFound, require_reason
from domain.insurer import insurer_key
from domain.insurer_master import (
    Insurer,
    InsurerName,
    a_name,
    aliases_of,
    insurer_code,
    insurer_named,
)


def _holds(session: Session, audit: Audit, insurer: Insurer, before: set[str]) -> None:
    """Take the insurer's new names' keys and let go of those it no longer has."""
    after = insurer.name_keys()
    for key in sorted(after - before):
        found = session.find(InsurerName, InsurerName.create_id(key))
        if found is None:
            session.add(InsurerName(audit=audit, key=key, insurer_id=insurer.id,
                                    code=insurer.code, id=InsurerName.create_id(key)))
        elif found.taken():
            if found.insurer_id != insurer.id:
                raise found.refusal()
        else:
            found.take_again(audit, insurer.id, insurer.code)
    for key in sorted(before - after):
        held = session.find(InsurerName, InsurerName.create_id(key))
        if held is not None:
            held.release(audit, insurer.id)


def _streams(insurer_id: UUID | None, names: Iterable[str]) -> list[UUID]:
    return [*([insurer_id] if insurer_id else []),
            *(InsurerName.create_id(insurer_key(n)) for n in names)]


def _target(session: Session, insurer_id: UUID | None, ref: str) -> Insurer:
    """The insurer a command changes, named by its code or its id (`insurer_named`); a
    reference that names none is NotFound, as an unknown code is."""
    if insurer_id is None:
        raise NotFound(f"insurer {ref} is not in the insurer master")
    return session.target(Insurer, insurer_id, f"insurer {ref}")


class Insurers:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def register(self, request: Request, *, code: str, name: object, short_name: object,
                 aliases: Sequence[object] = ()) -> CommandResult:
        kept = insurer_code(code)
        official, short = a_name(name, "name"), a_name(short_name, "short_name")
        others = aliases_of(aliases)

        def decide(session: Session) -> Decision:
            if session.find(Insurer, Insurer.create_id(kept)) is not None:
                raise IllegalTransition(f"insurer {kept} is already in the master", code=kept)
            audit = session.audit(session.caller.stores[0])
            insurer = Insurer(audit=audit, code=kept, name=official, short_name=short,
                              aliases=others, id=Insurer.create_id(kept))
            session.add(insurer)
            _holds(session, audit, insurer, set())
            return Decision(insurer, {"code": kept})

        return self.app.execute(request, decide, _streams(Insurer.create_id(kept),
                                                          [official, short, *others]))

    def rename(self, request: Request, insurer: str, *, name: object | None,
               short_name: object | None, reason: str | None) -> CommandResult:
        """`insurer`: its code or its id, as for every command on an insurer."""
        insurer_id = insurer_named(insurer)
        official = None if name is None else a_name(name, "name")
        short = None if short_name is None else a_name(short_name, "short_name")
        why = require_reason(reason, "renaming an insurer")

        def decide(session: Session) -> Decision:
            found = _target(session, insurer_id, insurer)
            audit = session.audit(session.caller.stores[0])
            before = found.name_keys()
            found.rename(audit, official or found.name, short or found.short_name, why)
            _holds(session, audit, found, before)
            return Decision(found, {"code": found.code, "name": found.name,
                                    "short_name": found.short_name})

        return self.app.execute(request, decide,
                                _streams(insurer_id, [n for n in (official, short) if n]))

    def change_aliases(self, request: Request, insurer: str, *, add: Sequence[object] = (),
                       remove: Sequence[object] = (), reason: str | None) -> CommandResult:
        insurer_id = insurer_named(insurer)
        added, removed = aliases_of(add, "add"), aliases_of(remove, "remove")
        why = require_reason(reason, "changing an insurer's aliases")

        def decide(session: Session) -> Decision:
            found = _target(session, insurer_id, insurer)
            audit = session.audit(session.caller.stores[0])
            before = found.name_keys()
            new, gone = found.change_aliases(audit, added, removed, why)
            _holds(session, audit, found, before)
            return Decision(found, {"code": found.code, "added": new, "removed": gone,
                                    "aliases": found.aliases})

        return self.app.execute(request, decide, _streams(insurer_id, [*added, *removed]))

    def deactivate(self, request: Request, insurer: str, *,
                   reason: str | None) -> CommandResult:
        insurer_id = insurer_named(insurer)
        why = require_reason(reason, "deactivating an insurer")

        def decide(session: Session) -> Decision:
            found = _target(session, insurer_id, insurer)
            found.deactivate(session.audit(session.caller.stores[0]), why)
            return Decision(found, {"code": found.code, "active": False})

        return self.app.execute(request, decide, _streams(insurer_id, []))
