"""The DuckDB table of customer complaint cases and suggestions (投诉建议, `domain/grievance.py`;
listed in order in `analytics.schema`). Never the customer's words: they are sealed personal
data, and no figure needs them."""

from __future__ import annotations

from analytics.schema_columns import NOTIFICATION, TS, Table, V, store

FACT_GRIEVANCES = Table(
    "fact_grievances", "one row per customer complaint case or suggestion (投诉建议): "
    "what it is about, its deadlines and when each step was first and last taken; never "
    "the customer's words", (
        NOTIFICATION,
        ("grievance_id", V, "the case (UUID)"),
        store("case"),
        ("customer_id", V, "the customer (UUID); see dim_customer"),
        ("kind", V, "complaint (投诉) or suggestion (建议: no deadlines)"),
        ("channel", V, "phone, in_store, wechat, oem_hotline (厂家转交) or follow_up"),
        ("category", V, ("repair_quality, service_attitude, price, waiting_time, parts "
                         "or other")),
        ("severity", V, "normal or serious (a complaint's closure deadline)"),
        ("work_order_id", V, "the visit it is about (UUID), if any; see fact_work_orders"),
        ("registered_at", TS, "when the case was registered"),
        ("contact_due", TS, ("a complaint's deadline for first contact, as in force when "
                             "it was registered; empty for a suggestion")),
        ("close_due", TS, ("a complaint's deadline for closure, as in force when it was "
                           "registered; empty for a suggestion")),
        ("status", V, "registered, assigned, in_progress, resolved or closed"),
        ("contacted_at", TS, "when the owner first reached the customer"),
        ("resolved_at", TS, "when it was last resolved"),
        ("accepted", "BOOLEAN", "whether the customer accepted the last resolution"),
        ("first_closed_at", TS, ("when it was first closed (the on-time closure rate "
                                 "counts this one; a reopening does not move it)")),
        ("closed_at", TS, "when it was last closed; empty while reopened"),
        ("reopened", "INTEGER", "how many times it was reopened"),
    ), ("grievance_id",))
