"""The building blocks of the DuckDB analytic tables (`analytics.schema`): the column types,
the `Table` that renders its DDL and data dictionary, and the columns many tables share."""

from __future__ import annotations

from dataclasses import dataclass

MONEY = "DECIMAL(18,2)"
QTY = "DECIMAL(18,3)"
TS = "TIMESTAMPTZ"
VALUE = "DECIMAL(20,5)"  # quantity (3 places) x unit cost (2 places)
V = "VARCHAR"

Column = tuple[str, str, str]  # name, SQL type, what it holds (unit, currency)


@dataclass(frozen=True)
class Table:
    name: str
    about: str
    fields: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, sql_type) for name, sql_type, _ in self.fields)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _, _ in self.fields]

    def ddl(self) -> str:
        cols = ", ".join(f"{c} {t}" for c, t in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({cols})"

    def comments(self) -> list[str]:
        """The data dictionary as DuckDB statements (run again on every start: idempotent)."""
        return [f"COMMENT ON TABLE {self.name} IS {_quoted(self.about)}"] + [
            f"COMMENT ON COLUMN {self.name}.{name} IS {_quoted(meaning)}"
            for name, _, meaning in self.fields]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def store(what: str = "row") -> Column:
    return ("store_id", V, f"the store (dealership site) of the {what}, e.g. S01; see dim_store")


WORK_ORDER = ("work_order_id", V, "the work order (UUID); see fact_work_orders")
NOTIFICATION = ("notification_id", "BIGINT",
                "position of the event in the event log that made the row (global, increasing)")
SEQ = ("seq", "INTEGER", "0, 1, 2 … for the rows one event made (with notification_id: unique)")
PAY_TYPE = ("pay_type", V, "who pays the line: customer, warranty (the OEM), insurance, internal")
PART = ("part_number", V, "the part number (as in the part master); see dim_part")
LOT = ("lot_id", V, "the stock lot the quantity came from or went to (supplier delivery)")
UNIT_COST = ("unit_cost", MONEY, "CNY per unit: the lot's unit cost as received")
TECHNICIAN = ("technician_id", V, "the technician's user id; see dim_technician")


def typed_key(what: str, compared: str, use: str) -> Column:
    """The key column of a brand or model as typed ("VOLKSWAGEN", full-width
    "ＶＯＬＫＳＷＡＧＥＮ"): the payer key (domain/payer_name.py)."""
    about = (f"the {what} compared as {compared} compare it (full-width as ASCII, spaces "
             f"collapsed, case folded): {use}")
    return f"{what}_key", V, about
