"""Events folded set-based in DuckDB: the batch's stored states as an Arrow table, each fact
derived by one statement per kind of row.

Growing facts (payments, clock punches) and rows no Python handler touches (follow-ups) are
inserted from their events. A keyed row the Python fold also writes (a work order, a
settlement) gets, after the fold has written it, the columns only these events set: per row,
the last event of each kind sets that kind's columns and the last status-giving event of all
the status (`WorkOrder.JobDispatched`, `Settlement.Drafted` and `Settlement.Reversed` are read
here for the status and folded in Python for the rest: SHARED), and `last_notification_id`
becomes the greater of the two. Rows other events of the batch must find are inserted before
the fold (a settlement opened, a payment a refund in the same batch refers to).

The Python handlers of these events stay registered: a batch holding a state that needs the
mapper (an older `class_version` than its class's, a cipher or compressor) is folded in Python,
event by event, as a whole; `tests/integration/test_analytics_loading.py` compares both ways.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, Self

import duckdb
import pyarrow as pa

# a work order's status is the one its last event of these gave
STATUS = {"WorkOrder.CheckedIn": "checked_in", "WorkOrder.JobDispatched": "in_progress",
          "WorkOrder.BackInProgress": "in_progress", "WorkOrder.ReadyForSettlement":
          "ready_for_settlement", "WorkOrder.Settled": "settled",
          "WorkOrder.SettlementReversed": "ready_for_settlement",
          "WorkOrder.Delivered": "delivered", "WorkOrder.Closed": "closed",
          "WorkOrder.Cancelled": "cancelled"}
# a settlement's status likewise; its bills are folded in Python
SETTLEMENT_STATUS = {"Settlement.Opened": "open", "Settlement.Drafted": "draft",
                     "Settlement.Confirmed": "confirmed", "Settlement.Settled": "settled",
                     "Settlement.Reversed": "open"}
SET_BASED = ("FollowUp.Completed", "FollowUp.Scheduled", "Settlement.Confirmed",
             "Settlement.Opened", "Settlement.PaymentTaken", "Settlement.Settled",
             "WorkOrder.ClockedOff", "WorkOrder.ClockedOn",
             *sorted(set(STATUS) - {"WorkOrder.JobDispatched"}))
# read here for the status, folded in Python for the rest
SHARED = ("Settlement.Drafted", "Settlement.Reversed", "WorkOrder.JobDispatched")

EVENTS = pa.schema([("notification_id", pa.int64()), ("originator_id", pa.string()),
                    ("qualname", pa.string()), ("state", pa.large_string())])

RawEvent = tuple[int, str, str, bytes]  # notification id, stream, Class.Event, stored state


def _fields(qualname: str, paths: Sequence[str]) -> str:
    """The events of one kind with the JSON values at `paths` as text, parsed once: f[1], …"""
    listed = ", ".join(f"'$.{p}'" for p in paths)
    return (f"(SELECT notification_id AS n, originator_id AS id, "
            f"json_extract_string(state, [{listed}]) AS f "
            f"FROM batch_events WHERE qualname = '{qualname}')")


AT = "audit._data_.at"
STORE = "audit._data_.store_id"

PAYMENTS = f"""
INSERT INTO fact_payments BY NAME
SELECT n AS notification_id, f[1] AS payment_id, id AS settlement_id, f[2] AS store_id,
       f[3] AS kind, f[4] AS bill, f[5] AS method,
       coalesce(f[6], f[7])::DECIMAL(18,2) AS amount, f[8]::TIMESTAMPTZ AS paid_at,
       f[9]::DATE AS business_date, f[10] AS cashier, NULL AS approved_by,
       coalesce(f[11]::BOOLEAN, false) AS bank
FROM {_fields("Settlement.PaymentTaken", [
    "payment.payment_id", STORE, "payment.kind", "payment.bill", "payment.method",
    "payment.amount._data_", "payment.amount", AT, "payment.business_date", "payment.cashier",
    "bank_receipt"])}
ORDER BY n"""

FOLLOW_UPS = f"""
INSERT INTO fact_follow_ups BY NAME
SELECT id AS follow_up_id, coalesce(f[1]::UUID::VARCHAR, f[2]) AS work_order_id,
       f[3] AS store_id, f[4]::DATE AS due_on, n AS last_notification_id
FROM {_fields("FollowUp.Scheduled", ["work_order_id._data_", "work_order_id", STORE, "due_on"])}
"""

FOLLOWED_UP = f"""
UPDATE fact_follow_ups t
SET csi = c.csi, completed_at = c.completed_at, complaint = c.complaint,
    last_notification_id = c.n
FROM (SELECT id, max(n) AS n, arg_max_null(f[1]::INTEGER, n) AS csi,
             arg_max_null(f[2]::TIMESTAMPTZ, n) AS completed_at,
             arg_max_null(f[3] IS NOT NULL, n) AS complaint
      FROM {_fields("FollowUp.Completed", ["csi", AT, "complaint_id"])}
      GROUP BY id) c
WHERE t.follow_up_id = c.id"""

# hours rounded to 4 places as Decimal's quantize does (half to even; an integer number of
# seconds over 3,600 never ends in a half at the fifth place)
CLOCK_PUNCHES = f"""
INSERT INTO fact_clock_punches BY NAME
SELECT c.id AS work_order_id, c.f[1]::INTEGER AS job_no, c.f[2] AS technician_id, w.store_id,
       c.f[3]::TIMESTAMPTZ - c.f[4]::BIGINT * INTERVAL 1 SECOND AS clock_on_at,
       c.f[3]::TIMESTAMPTZ AS clock_off_at,
       (((c.f[4]::BIGINT * 10000 + 1800) // 3600)::DECIMAL(18,0) * 0.0001)::DECIMAL(18,4)
           AS hours,
       c.n AS notification_id
FROM {_fields("WorkOrder.ClockedOff", ["job_no", "technician_id", AT, "seconds"])} c
JOIN fact_work_orders w ON w.work_order_id = c.id
ORDER BY c.n"""

_STATUS_OF = " ".join(f"WHEN '{q}' THEN '{status}'" for q, status in STATUS.items())
_SETTLING = "('WorkOrder.Settled', 'WorkOrder.SettlementReversed')"
_STATUS_IN = ", ".join(f"'{q}'" for q in STATUS)
CLOCK = ("WorkOrder.ClockedOn", "WorkOrder.ClockedOff")

# Per work order, the last event of each kind (a settlement and its reversal are one kind) sets
# that kind's columns (`arg_max_null`: its value, NULL too, at the greatest position); the last
# status-giving event of all the status; the first clock-on of all the first clock-on, if the
# row has none yet. Columns of kinds the batch does not hold keep their values. (One pass of
# aggregates: a window picking the last event of each kind first cost a quarter more, and the
# clocks as a second UPDATE of the same rows another ~6 ms a batch.)
MILESTONES = f"""
UPDATE fact_work_orders t
SET status = CASE WHEN m.has_status THEN m.status ELSE t.status END,
    checked_in_at = CASE WHEN m.checked_in THEN m.checked_in_at ELSE t.checked_in_at END,
    mileage_in = CASE WHEN m.checked_in THEN m.mileage_in ELSE t.mileage_in END,
    ready_at = CASE WHEN m.ready THEN m.ready_at ELSE t.ready_at END,
    settled_at = CASE WHEN m.settling THEN m.settled_at ELSE t.settled_at END,
    customer_total = CASE WHEN m.settling THEN m.customer_total ELSE t.customer_total END,
    delivered_at = CASE WHEN m.delivered THEN m.delivered_at ELSE t.delivered_at END,
    mileage_out = CASE WHEN m.delivered THEN m.mileage_out ELSE t.mileage_out END,
    closed_at = CASE WHEN m.closed THEN m.closed_at ELSE t.closed_at END,
    cancelled_at = CASE WHEN m.cancelled THEN m.cancelled_at ELSE t.cancelled_at END,
    first_clock_on_at = coalesce(t.first_clock_on_at, m.first_on),
    last_notification_id = greatest(t.last_notification_id, m.last)
FROM (
    SELECT id, max(n) AS last,
           bool_or(q IN ({_STATUS_IN})) AS has_status,
           arg_max(CASE q {_STATUS_OF} END, n) FILTER (WHERE q IN ({_STATUS_IN})) AS status,
           bool_or(q = 'WorkOrder.CheckedIn') AS checked_in,
           arg_max_null(f[1]::TIMESTAMPTZ, n) FILTER (WHERE q = 'WorkOrder.CheckedIn')
               AS checked_in_at,
           arg_max_null(f[2]::INTEGER, n) FILTER (WHERE q = 'WorkOrder.CheckedIn')
               AS mileage_in,
           bool_or(q = 'WorkOrder.ReadyForSettlement') AS ready,
           arg_max_null(f[1]::TIMESTAMPTZ, n) FILTER (WHERE q = 'WorkOrder.ReadyForSettlement')
               AS ready_at,
           bool_or(q IN {_SETTLING}) AS settling,
           arg_max_null(CASE WHEN q = 'WorkOrder.Settled' THEN f[1]::TIMESTAMPTZ END, n)
               FILTER (WHERE q IN {_SETTLING}) AS settled_at,
           arg_max_null(CASE WHEN q = 'WorkOrder.Settled'
                             THEN coalesce(f[3], f[4])::DECIMAL(18,2) END, n)
               FILTER (WHERE q IN {_SETTLING}) AS customer_total,
           bool_or(q = 'WorkOrder.Delivered') AS delivered,
           arg_max_null(f[1]::TIMESTAMPTZ, n) FILTER (WHERE q = 'WorkOrder.Delivered')
               AS delivered_at,
           arg_max_null(f[5]::INTEGER, n) FILTER (WHERE q = 'WorkOrder.Delivered')
               AS mileage_out,
           bool_or(q = 'WorkOrder.Closed') AS closed,
           arg_max_null(f[1]::TIMESTAMPTZ, n) FILTER (WHERE q = 'WorkOrder.Closed')
               AS closed_at,
           bool_or(q = 'WorkOrder.Cancelled') AS cancelled,
           arg_max_null(f[1]::TIMESTAMPTZ, n) FILTER (WHERE q = 'WorkOrder.Cancelled')
               AS cancelled_at,
           arg_min(f[1]::TIMESTAMPTZ, n) FILTER (WHERE q = 'WorkOrder.ClockedOn') AS first_on
    FROM (SELECT notification_id AS n, originator_id AS id, qualname AS q,
                 json_extract_string(state, ['$.{AT}', '$.details.mileage_in',
                                             '$.customer_total._data_', '$.customer_total',
                                             '$.mileage_out']) AS f
          FROM batch_events
          WHERE qualname IN ({", ".join(f"'{q}'" for q in (*STATUS, *CLOCK))}))
    GROUP BY id) m
WHERE t.work_order_id = m.id"""

SETTLEMENTS = f"""
INSERT INTO fact_settlements BY NAME
SELECT id AS settlement_id, coalesce(f[1]::UUID::VARCHAR, f[2]) AS work_order_id,
       f[3] AS store_id, 'open' AS status, n AS last_notification_id
FROM {_fields("Settlement.Opened", ["work_order_id._data_", "work_order_id", STORE])}"""

_SETTLEMENT_STATUS_OF = " ".join(f"WHEN '{q}' THEN '{status}'"
                                 for q, status in SETTLEMENT_STATUS.items())

# a reversal empties the number and both instants; the last of it and a confirmation (a
# settlement) of a settlement gives them
SETTLEMENT_STEPS = f"""
UPDATE fact_settlements t
SET status = m.status,
    number = CASE WHEN m.numbering THEN m.number ELSE t.number END,
    confirmed_at = CASE WHEN m.numbering THEN m.confirmed_at ELSE t.confirmed_at END,
    settled_at = CASE WHEN m.settling THEN m.settled_at ELSE t.settled_at END,
    last_notification_id = greatest(t.last_notification_id, m.last)
FROM (
    SELECT id, max(n) AS last, arg_max(CASE q {_SETTLEMENT_STATUS_OF} END, n) AS status,
           bool_or(q IN ('Settlement.Confirmed', 'Settlement.Reversed')) AS numbering,
           arg_max_null(CASE WHEN q = 'Settlement.Confirmed' THEN f[2] END, n)
               FILTER (WHERE q IN ('Settlement.Confirmed', 'Settlement.Reversed')) AS number,
           arg_max_null(CASE WHEN q = 'Settlement.Confirmed' THEN f[1]::TIMESTAMPTZ END, n)
               FILTER (WHERE q IN ('Settlement.Confirmed', 'Settlement.Reversed'))
               AS confirmed_at,
           bool_or(q IN ('Settlement.Settled', 'Settlement.Reversed')) AS settling,
           arg_max_null(CASE WHEN q = 'Settlement.Settled' THEN f[1]::TIMESTAMPTZ END, n)
               FILTER (WHERE q IN ('Settlement.Settled', 'Settlement.Reversed'))
               AS settled_at
    FROM (SELECT notification_id AS n, originator_id AS id, qualname AS q,
                 json_extract_string(state, ['$.{AT}', '$.number']) AS f
          FROM batch_events
          WHERE qualname IN ({", ".join(f"'{q}'" for q in SETTLEMENT_STATUS)}))
    GROUP BY id) m
WHERE t.settlement_id = m.id"""

BEFORE_FOLD = (({"Settlement.PaymentTaken"}, PAYMENTS), ({"Settlement.Opened"}, SETTLEMENTS))
AFTER_WRITE = (({"FollowUp.Scheduled"}, FOLLOW_UPS), ({"FollowUp.Completed"}, FOLLOWED_UP),
               ({"WorkOrder.ClockedOff"}, CLOCK_PUNCHES), ({*STATUS, *CLOCK}, MILESTONES),
               (set(SETTLEMENT_STATUS), SETTLEMENT_STEPS))


def _texts(states: Sequence[bytes], joined: bytes = b"") -> pa.LargeStringArray:
    """The stored states as one Arrow column of text, made from their bytes joined (`joined`,
    when the reader has joined them already) and the offsets between them (`pa.array` of a
    list of bytes took ~4 µs a state: six times as long); invalid UTF-8 raises, as it did
    there."""
    offsets = array("q", accumulate(map(len, states), initial=0))
    if len(joined) != offsets[-1]:
        joined = b"".join(states)
    texts = pa.LargeStringArray.from_buffers(len(states), pa.py_buffer(offsets),
                                             pa.py_buffer(joined))
    texts.validate(full=True)
    return texts


class SetBased:
    """The set-based events of one batch, registered with DuckDB while it is folded."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, raw: list[RawEvent],
                 joined: bytes = b"") -> None:
        self.conn = conn
        self.kinds = Counter(qualname for _, _, qualname, _ in raw)
        self.table: Any = None
        if raw:
            *columns, states = zip(*raw, strict=True)
            self.table = pa.Table.from_arrays(
                [*(pa.array(c, type=t) for c, t in zip(columns, EVENTS.types[:-1], strict=True)),
                 _texts(states, joined)], schema=EVENTS)

    def __enter__(self) -> Self:
        if self.table is not None:
            self.conn.register("batch_events", self.table)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.table is not None:
            self.conn.unregister("batch_events")

    def before_fold(self) -> None:
        self._run(BEFORE_FOLD)

    def after_write(self) -> None:
        self._run(AFTER_WRITE)

    def _run(self, statements: Sequence[tuple[set[str], str]]) -> None:
        for kinds, statement in statements:
            if any(self.kinds[k] for k in kinds):
                self.conn.execute(statement)
