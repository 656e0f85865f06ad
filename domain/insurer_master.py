"""The insurer master: one stream per insurer the store settles claims with directly.

An insurer has a code (its id: "PINGAN"), its official name ("中国平安财产保险股份有限公司"),
a short name ("中国平安") and aliases: the other names a cashier types for it ("平安产险",
"Ping An"). Every name is compared by `insurer_key` (domain/insurer.py: full-width, spacing,
case), and each key belongs to one insurer at most: a reservation stream per key
(`InsurerName`, domain/taken_once.py) is created or taken again in the save that gives the
name, and let go in the save that drops it, so two managers giving one name to two insurers
at once make one save and one 409 naming the holder.

A deactivated insurer keeps its names: the bills recorded under them stay its bills.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, stable_id
from domain.insurer import insurer_key, insurer_name
from domain.taken_once import TakenOnce

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
MAX_NAME = 100
MAX_ALIASES = 50


class InsurerError(IllegalTransition):
    pass


class InsurerNameTaken(InsurerError):
    """A name (by its `insurer_key`) another insurer holds (HTTP 409, naming it)."""


def insurer_code(value: str) -> str:
    """The code as kept: full-width as ASCII, no blanks, upper case; letters, digits, - and _."""
    code = insurer_name(value or "").replace(" ", "").upper()
    require(bool(CODE.match(code)), InvalidInput(
        "an insurer's code has 1 to 20 letters, digits, '-' or '_'", field="code"))
    return code


def insurer_named(ref: str) -> UUID | None:
    """The insurer a reference names: its id, or the id of its code; None for a reference that
    is neither (a name, a code with a character no code has), which names no insurer."""
    try:
        return UUID(ref)
    except ValueError:
        pass
    try:
        return Insurer.create_id(insurer_code(ref))
    except InvalidInput:
        return None


def a_name(value: object, field: str) -> str:
    """A name as kept (`insurer_name`), not blank, at most `MAX_NAME` characters."""
    name = insurer_name(value) if isinstance(value, str) else ""
    require(bool(name), InvalidInput(f"{field} must not be blank", field=field))
    require(len(name) <= MAX_NAME, InvalidInput(
        f"{field} is at most {MAX_NAME} characters", field=field))
    return name


def aliases_of(values: Iterable[object], field: str = "aliases") -> list[str]:
    """Validated aliases, each once by its key, in the order given."""
    kept: dict[str, str] = {}
    for value in values:
        name = a_name(value, field)
        kept.setdefault(insurer_key(name), name)
    require(len(kept) <= MAX_ALIASES, InvalidInput(
        f"an insurer has at most {MAX_ALIASES} aliases", field=field))
    return list(kept.values())


class Insurer(Aggregate):
    """One insurer of the master."""

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        code: str
        name: str
        short_name: str
        aliases: list[str]

    class Renamed(Event):
        name: str
        short_name: str
        reason: str

    class AliasesChanged(Event):
        added: list[str]
        removed: list[str]
        reason: str

    class Deactivated(Event):
        reason: str

    @staticmethod
    def create_id(code: str) -> UUID:
        return stable_id("insurer", code)

    @event(Registered)
    def __init__(self, audit: Audit, code: str, name: str, short_name: str,
                 aliases: list[str], id: UUID | None = None) -> None:
        self.code = code
        self.name = name
        self.short_name = short_name
        self.aliases = list(aliases)
        self.active = True

    def name_keys(self) -> set[str]:
        """Every name it is known by, as compared (`insurer_key`)."""
        return {insurer_key(n) for n in (self.name, self.short_name, *self.aliases)}

    def rename(self, audit: Audit, name: str, short_name: str, reason: str) -> None:
        require(self.active, InsurerError(f"insurer {self.code} is deactivated"))
        require((name, short_name) != (self.name, self.short_name), InsurerError(
            f"insurer {self.code} already has these names"))
        self._renamed(audit, name, short_name, reason)

    @event(Renamed)
    def _renamed(self, audit: Audit, name: str, short_name: str, reason: str) -> None:
        self.name = name
        self.short_name = short_name

    def change_aliases(self, audit: Audit, add: list[str], remove: list[str],
                       reason: str) -> tuple[list[str], list[str]]:
        """Aliases added and removed (by key); answers what actually changed."""
        require(self.active, InsurerError(f"insurer {self.code} is deactivated"))
        held = {insurer_key(a): a for a in self.aliases}
        gone = [held[k] for k in dict.fromkeys(insurer_key(r) for r in remove) if k in held]
        new = [a for a in add if insurer_key(a) not in held]
        require(not {insurer_key(a) for a in new} & {insurer_key(r) for r in gone},
                InvalidInput("an alias is both added and removed", field="add"))
        require(bool(new or gone), InsurerError(f"insurer {self.code}: nothing to change"))
        require(len(self.aliases) + len(new) - len(gone) <= MAX_ALIASES, InvalidInput(
            f"an insurer has at most {MAX_ALIASES} aliases", field="add"))
        self._aliases_changed(audit, new, gone, reason)
        return new, gone

    @event(AliasesChanged)
    def _aliases_changed(self, audit: Audit, added: list[str], removed: list[str],
                         reason: str) -> None:
        dropped = {insurer_key(r) for r in removed}
        self.aliases = [a for a in self.aliases if insurer_key(a) not in dropped] + added

    def deactivate(self, audit: Audit, reason: str) -> None:
        require(self.active, InsurerError(f"insurer {self.code} is already deactivated"))
        self._deactivated(audit, reason)

    @event(Deactivated)
    def _deactivated(self, audit: Audit, reason: str) -> None:
        self.active = False


class InsurerName(TakenOnce):
    """A name's key held by one insurer: while held, no other insurer may have the name."""

    released = False

    class Event(Aggregate.Event):
        audit: Audit
        key: str

    class Reserved(Event, Aggregate.Created):
        insurer_id: UUID
        code: str

    class Released(Event):
        pass

    class Retaken(Event):
        insurer_id: UUID
        code: str

    @staticmethod
    def create_id(key: str) -> UUID:
        return stable_id("insurer-name", key)

    @event(Reserved)
    def __init__(self, audit: Audit, key: str, insurer_id: UUID, code: str,
                 id: UUID | None = None) -> None:
        self.key = key
        self.insurer_id = insurer_id
        self.code = code

    def taken(self) -> bool:
        return not self.released

    def release(self, audit: Audit, insurer_id: UUID) -> None:
        if self.insurer_id == insurer_id and not self.released:
            self._released(audit, self.key)

    @event(Released)
    def _released(self, audit: Audit, key: str) -> None:
        self.released = True

    def take_again(self, audit: Audit, insurer_id: UUID, code: str) -> None:
        require(self.released, self.refusal())
        self._retaken(audit, self.key, insurer_id, code)

    @event(Retaken)
    def _retaken(self, audit: Audit, key: str, insurer_id: UUID, code: str) -> None:
        self.released = False
        self.insurer_id = insurer_id
        self.code = code

    def refusal(self) -> InsurerNameTaken:
        return InsurerNameTaken(
            f"the name {self.key!r} belongs to insurer {self.code}; a name or alias belongs "
            "to one insurer only", key=self.key, insurer_id=str(self.insurer_id),
            insurer_code=self.code)
