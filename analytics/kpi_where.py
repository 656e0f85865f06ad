"""What a KPI query of the catalogue (`analytics.kpis`) is filtered by, and the types its
figures are given: the filters a request names, the WHERE clause built from them with bound
parameters, and the DECIMAL types of ratios, money and hours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.payer_name import payer_name_key


@dataclass(frozen=True)
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    store_id: str | None = None
    brand: str | None = None
    model: str | None = None
    technician: str | None = None
    pay_type: str | None = None
    today: date | None = None  # the store's day (SERVICECORE_STORE_TIMEZONE), as every date here
    region: str | None = None  # as asked for (`region=`); `stores` are its stores
    stores: tuple[str, ...] | None = None  # the stores counted, where store_id is not one
    by: str | None = None  # a breakdown the KPI offers (`Kpi.breakdowns`): a row per value

    def end(self) -> date:
        """The last day of the period: `date_to`, else the store's today (the server's calendar
        day only where no one says which that is)."""
        return self.date_to or self.today or date.today()


@dataclass
class Where:
    """Builds a WHERE clause from the filters a KPI supports, with bound parameters."""

    filters: Filters
    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def period(self, column: str) -> Where:
        if self.filters.date_from:
            self.clauses.append(f"{column} >= ?::DATE")
            self.params.append(self.filters.date_from)
        if self.filters.date_to:
            self.clauses.append(f"{column} < ?::DATE + 1")
            self.params.append(self.filters.date_to)
        return self

    def eq(self, column: str, name: str) -> Where:
        """`column` = the filter's value; the store filter also takes a region's stores."""
        if name == "store_id" and self.filters.stores is not None:
            marks = ", ".join("?" * len(self.filters.stores))
            self.clauses.append(f"{column} IN ({marks})" if marks else "FALSE")
            self.params.extend(self.filters.stores)
        value = getattr(self.filters, name)
        if value is not None:
            self.clauses.append(f"{column} = ?")
            self.params.append(value)
        return self

    def typed(self, column: str, name: str) -> Where:
        """A brand or model by its key (`payer_name_key`), however either was typed."""
        value = getattr(self.filters, name)
        if value is not None:
            self.clauses.append(f"{column} = ?")
            self.params.append(payer_name_key(value))
        return self

    def vehicle(self, alias: str = "w") -> Where:
        """The store as given; the brand and model by their keys, so that "Volkswagen" counts
        the cars typed "VOLKSWAGEN" or full-width "ＶＯＬＫＳＷＡＧＥＮ" too, and "Lavida" those
        typed "LAVIDA"."""
        return self.eq(f"{alias}.store_id", "store_id").typed(
            f"{alias}.brand_key", "brand").typed(f"{alias}.model_key", "model")

    def sql(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"


# The longest region name (SERVICECORE_REGIONS), as `region=` takes it.
MAX_REGION = 60

# Ratios are rounded to 4 places and typed DECIMAL: the API answers them as strings
# ("0.8333"), as it answers every decimal figure, and the CSV prints the same 4 places.
RATIO = "DECIMAL(18, 4)"
# Money to the fen, typed DECIMAL: strings with 2 places in JSON ("412.39") and in the CSV.
MONEY = "DECIMAL(18, 2)"
# Hours (sold, available, clocked) shown to 2 places, half up (`kpi_figures.hours`): strings
# with 2 places in JSON ("15.30") and in the CSV, as `/technicians/kpi` shows them.
HOURS = "DECIMAL(18, 2)"
# The first instant of the 12 calendar months that end with date_to (its day included): a
# visit or an issue on the same day a year before is outside them (churn, obsolete stock).
TWELVE_MONTHS = "(?::DATE + 1 - INTERVAL 12 MONTH)"
# Clocked time in whole seconds, summed exactly; divided once, for a ratio or for showing.
SECONDS = "date_diff('second', p.clock_on_at, p.clock_off_at)"

# Rows per technician carry the current name beside the user id (the key): the name of their
# latest profile, so a renamed technician's past hours show under the new name.
NAMED = "LEFT JOIN dim_technician d USING (technician_id)"


def exact_ratio(top: str, bottom: str, places: int = 4, scale: int = 0) -> str:
    """SQL for `top` ÷ `bottom` rounded half up (away from zero) to `places`, as
    `kpi_figures.quotient` rounds: exactly, in whole numbers, since DuckDB divides numbers as
    DOUBLE (3 ÷ 160 = 0.01875 came out 0.0187, and 2.01 h over 2 work orders 1.00). Both are
    taken × 10^`scale`, which must hold every decimal place they carry; NULL unless `bottom` is
    above zero."""
    factor = 10 ** scale
    t, b = (f"CAST(({side}) * {factor} AS HUGEINT)" for side in (top, bottom))
    whole = f"sign({t}) * ((abs({t}) * {2 * 10 ** places} + {b}) // (2 * {b}))"
    unit = f"0.{'0' * (places - 1)}1" if places else "1"
    return (f"CAST(CAST(CASE WHEN {b} > 0 THEN {whole} END AS DECIMAL(38, 0)) * {unit}"
            f" AS DECIMAL(18, {places}))")
