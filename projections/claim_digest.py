"""What was sent to the OEM: the claim package's digest, recorded at each (re)submission, and the
package as it stood at a moment, rebuilt to check it.

The digest is sha256 (lowercase hex) over the package's canonical JSON form: the package as
`GET /work-orders/{id}/warranty-claim` answers it in JSON (amounts as strings, every timestamp
in UTC with `Z`, api/timestamps.py), less the fields below, serialized with its keys sorted, no
whitespace (`,` and `:` as separators), non-ASCII characters as themselves, in UTF-8, so that
an auditor can recompute it from the answer. Left out of it:

- `customer.name` and `customer.phone`: personal data (the customer's `id` stays in). The
  event never holds them in clear, and erasing the customer (its key deleted) leaves every
  digest true.
- `oem_claim`: the OEM's handling of the claim, which the submission itself changes.
- `evidence`: the citations of the events the package was read from (the OEM's steps and the
  other visits' serial records among them), not what the package says.
- `serial_conflicts`, `serial_history`, the problems of kind `serial_conflict` and `complete`
  (which depends on them): the part serials view holds each visit's serials as they are now,
  so a serial another visit recorded then and corrected since cannot be found as of a past
  moment.

Everything else is in: the work order, vehicle, mileage, dates, settlement and its warranty
bill, the jobs (3C, labor and parts with their lots, serials and failed-part tags, the
technicians' punches and qualifications), compensations, totals, the other problems, what is
still to come and the approvals. The failed-part tags are known as of a moment: the failed-parts
view only names the visit's tag streams (a tag never leaves its visit), whose events are read up
to it. The base warranty terms the coverage is checked against are the server's settings.

The package as of a moment replays every stream it reads up to its first event stamped after
it (`replaying_until`), as every `as_of` read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.application import ServiceCore
from domain.common import DomainError, NotFound
from domain.oem_claim import OemClaim
from domain.oem_claims import SentPackage
from domain.settlement import Settlement
from domain.unreadable_events import reading
from domain.warranty_coverage import WarrantyTerms
from projections.evidence import events_table, in_utc, read_streams, replaying_until, stamp
from projections.warranty_claim import Opener, may_see, warranty_claim

LEFT_OUT = ("oem_claim", "evidence", "serial_conflicts", "serial_history", "complete")
PERSONAL = ("name", "phone")
UNKNOWN_THEN = "serial_conflict"  # problems of this kind cannot be known as of a past moment


def digested(package: dict[str, Any]) -> dict[str, Any]:
    """The part of the package the digest covers (see the module's docstring)."""
    kept = {k: v for k, v in package.items() if k not in LEFT_OUT}
    kept["customer"] = {k: v for k, v in package["customer"].items() if k not in PERSONAL}
    kept["problems"] = [p for p in package["problems"] if p.get("kind") != UNKNOWN_THEN]
    return kept


def _as_answered(value: Any) -> Any:
    """Timestamps in UTC with `Z`, as the API's JSON answers them."""
    if isinstance(value, dict):
        return {k: _as_answered(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_answered(v) for v in value]
    return in_utc(value) if isinstance(value, str) else value


def canonical(package: dict[str, Any]) -> bytes:
    """The canonical JSON form the digest is taken over."""
    return json.dumps(_as_answered(digested(package)), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode()


def digest(package: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(package)).hexdigest()


def no_personal_data(_customer_id: UUID, _sealed: str | None) -> str | None:
    """An opener that opens nothing: the digest leaves the customer's name and phone out."""
    return None


def claim_as_of(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
                stores: Sequence[str], at: datetime | None, open_pii: Opener | None = None,
                *, terms: WarrantyTerms | None, zone: ZoneInfo) -> dict[str, Any]:
    """The claim package as it stood at `at` (None: now); NotFound before the work order was
    opened, NothingToClaim while it had no approved warranty line."""
    with replaying_until(at):
        return warranty_claim(app, conn, work_order_id, stores, open_pii, terms=terms,
                              zone=zone)


def sent_package(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
                 stores: Sequence[str], *, terms: WarrantyTerms | None,
                 zone: ZoneInfo) -> SentPackage:
    """The package as it is now, for a (re)submission: run inside one snapshot
    (projections/evidence.py `one_snapshot`), so that the last notification id, the streams'
    versions and the package are read at one point of the log."""
    position = conn.execute(f"SELECT coalesce(max(notification_id), 0) "
                            f"FROM {events_table(app)}").fetchone()
    at = datetime.now(UTC)
    package = warranty_claim(app, conn, work_order_id, stores, no_personal_data, terms=terms,
                             zone=zone)
    versions = dict(conn.execute(
        f"SELECT originator_id, max(originator_version) FROM {events_table(app)} "
        f"WHERE originator_id = ANY(%s) GROUP BY originator_id",
        ([work_order_id, Settlement.create_id(work_order_id)],)).fetchall())
    return SentPackage(digest=digest(package), position=int(position[0]) if position else 0,
                       at=at, work_order_version=versions.get(work_order_id),
                       settlement_version=versions.get(Settlement.create_id(work_order_id)))


def _matches(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
             stores: Sequence[str], recorded: str, at: datetime, terms: WarrantyTerms | None,
             zone: ZoneInfo) -> bool:
    try:
        package = claim_as_of(app, conn, work_order_id, stores, at, no_personal_data,
                              terms=terms, zone=zone)
    except DomainError:  # no package could be built then: not what was recorded
        return False
    return digest(package) == recorded


def submissions(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
                stores: Sequence[str], *, terms: WarrantyTerms | None,
                zone: ZoneInfo) -> dict[str, Any]:
    """Each submission and resubmission of the visit's claim, oldest first: when, who, the
    OEM's claim number, the claimed amount, the recorded digest, position and moment, and
    whether the package rebuilt as of that moment still has that digest (`matches`; null for
    a submission stored before digests were recorded). 404: no claim, or another store's."""
    claim_id = OemClaim.create_id(work_order_id)
    events = read_streams(app, conn, [claim_id]).get(claim_id, [])
    if not events or not may_see(stores, events[0].event.audit.store_id):
        raise NotFound(f"no warranty claim of work order {work_order_id}")
    sent = []
    for r in events:
        with reading(r.event) as e:
            if not isinstance(e, OemClaim.Submitted | OemClaim.Resubmitted):
                continue
            recorded, at = e.package_digest, e.package_at
            sent.append({
                "step": "submitted" if isinstance(e, OemClaim.Submitted) else "resubmitted",
                **stamp(r), "notification_id": r.notification_id,
                "oem_claim_number": e.oem_claim_number, "claimed": str(e.claimed),
                "changes": getattr(e, "changes", None), "package_digest": recorded,
                "package_position": e.package_position,
                "package_at": at.isoformat() if at else None,
                "matches": None if recorded is None or at is None else _matches(
                    app, conn, work_order_id, stores, recorded, at, terms, zone)})
    return {"work_order_id": str(work_order_id), "count": len(sent), "submissions": sent}
