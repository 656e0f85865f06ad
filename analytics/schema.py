"""The DuckDB analytic tables: facts and dimensions loaded from the event log, with their data
dictionary.

Each table says what one row is, and each column what it holds, in which unit or currency: the
loader writes them as DuckDB comments (`COMMENT ON TABLE / COLUMN`), so a BI tool or
`SELECT * FROM duckdb_columns()` shows them next to the data. Facts that describe one thing whose
state changes (a work order, a labor line) have a key; keyless facts only ever grow (movements,
payments, punches). Money is CNY to the fen; times are instants (TIMESTAMPTZ, stored in UTC).
"""

from __future__ import annotations

from dataclasses import replace

from analytics.schema_columns import Table
from analytics.schema_dimensions import (
    DIM_CUSTOMER,
    DIM_INSURER,
    DIM_INSURER_NAME,
    DIM_JOB,
    DIM_PART,
    DIM_STOCK_ITEM,
    DIM_STORE,
    DIM_TECHNICIAN,
    DIM_TECHNICIAN_STREAM,
    DIM_VEHICLE,
)
from analytics.schema_grievances import FACT_GRIEVANCES
from analytics.schema_money import FACT_PAYMENTS, FACT_REFUNDS, FACT_SETTLEMENTS, FACT_WRITE_OFFS
from analytics.schema_online_bookings import FACT_ONLINE_BOOKINGS
from analytics.schema_stock import (
    FACT_LOST_SALES,
    FACT_PURCHASE_ORDER_LINES,
    FACT_STOCK_MOVEMENTS,
    FACT_STOCKTAKE_VARIANCES,
)
from analytics.schema_work_orders import (
    FACT_APPOINTMENTS,
    FACT_ATTENDANCE,
    FACT_CLOCK_PUNCHES,
    FACT_FOLLOW_UPS,
    FACT_HOURLY_COSTS,
    FACT_LABOR_LINES,
    FACT_PART_LINES,
    FACT_WORK_ORDERS,
)

# the order the loader creates them in (each declared in its area's module above)
TABLES: tuple[Table, ...] = (
    FACT_WORK_ORDERS,
    FACT_LABOR_LINES,
    FACT_PART_LINES,
    FACT_CLOCK_PUNCHES,
    FACT_STOCK_MOVEMENTS,
    FACT_PAYMENTS,
    FACT_SETTLEMENTS,
    FACT_REFUNDS,
    FACT_WRITE_OFFS,
    FACT_FOLLOW_UPS,
    FACT_STOCKTAKE_VARIANCES,
    FACT_LOST_SALES,
    FACT_PURCHASE_ORDER_LINES,
    FACT_APPOINTMENTS,
    FACT_ATTENDANCE,
    FACT_HOURLY_COSTS,
    FACT_GRIEVANCES,
    FACT_ONLINE_BOOKINGS,
    DIM_TECHNICIAN_STREAM,
    DIM_JOB,
    DIM_STORE,
    DIM_TECHNICIAN,
    DIM_STOCK_ITEM,
    DIM_PART,
    DIM_VEHICLE,
    DIM_INSURER,
    DIM_INSURER_NAME,
    DIM_CUSTOMER,
)

# Every keyed table ends with the last event that changed its row: the snapshot publisher
# copies only rows changed since the snapshot's position (growing facts: new notification ids).
CHANGED_BY = ("last_notification_id", "BIGINT",
              "the last event (notification id, see analytics_position) that changed the row")
TABLES = tuple(replace(t, fields=(*t.fields, CHANGED_BY)) if t.key else t for t in TABLES)
BY_NAME = {t.name: t for t in TABLES}
POSITION_DDL = ("CREATE TABLE IF NOT EXISTS analytics_position (position BIGINT NOT NULL, "
                "revision INTEGER, mark VARCHAR)")
POSITION_COMMENTS = [
    "COMMENT ON TABLE analytics_position IS 'the loader''s position in the event log: one row'",
    ("COMMENT ON COLUMN analytics_position.position IS 'the last event (notification id) the "
    "tables include'"),
    ("COMMENT ON COLUMN analytics_position.revision IS 'the revision of the loader''s fold that "
     "wrote the tables (NULL: from before revisions, taken as 1)'"),
    ("COMMENT ON COLUMN analytics_position.mark IS 'the last event at or before the position "
     "as loaded (notification id:stream id:version:digest of its topic and state): another "
     "event there means the log was restored from a backup behind the tables (NULL: from "
     "before marks)'"),
]
