"""The set-based (SQL) reading of events against the Python fold over the whole session log:
every kind of event the suite's earlier tests wrote (refunds, reversals, stocktakes, transfers,
insurance, whatever they stored), not only the visits a loading test makes for itself
(test_analytics_loading.py, on a log of its own). Both loaders read in large batches, so the
test costs about two passes over the log however the suite grows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from analytics.loader import AnalyticsLoader
from analytics.schema import TABLES
from servicecore.container import Container
from tests.integration.analytics_support import table_rows, visit


def test_set_based_and_python_folds_agree_on_every_event_of_the_log(container: Container,
                                                                    tmp_path: Path) -> None:
    store = "WL" + uuid.uuid4().hex[:6].upper()
    for n in range(2):  # at least these visits, when the module runs alone
        visit(container, store, "2025-05-12", n)
    in_sql, in_python = (AnalyticsLoader(container.app, tmp_path / f"{name}.duckdb",
                                         batch_size=size)
                         for name, size in (("sql", 997), ("python", 100_000)))
    in_python.source.set_based = frozenset()  # every event through its Python handler
    try:
        for loader in (in_sql, in_python):
            loader.catch_up()
        assert in_sql.position() == in_python.position() == \
            container.app.recorder.max_notification_id()
        for table in TABLES:
            assert table_rows(in_sql.conn, table.name) == table_rows(in_python.conn,
                                                                     table.name), table.name
        assert in_sql.conn.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = ?",
                                   [store]).fetchone() == (2,)
    finally:
        in_sql.close()
        in_python.close()
