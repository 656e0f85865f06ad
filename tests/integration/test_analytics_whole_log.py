"""The set-based (SQL) reading of events against the Python fold over the whole session log:
every kind of event the suite's earlier tests wrote (refunds, reversals, stocktakes, transfers,
insurance, whatever they stored), not only the visits a loading test makes for itself
(test_analytics_loading.py, on a log of its own). Both loaders read in large batches, so the
test costs about two passes over the log however the suite grows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb

from servicecore.container import Container
from tests.integration.analytics_support import python_and_set_based, visit


def test_set_based_and_python_folds_agree_on_every_event_of_the_log(container: Container,
                                                                    tmp_path: Path) -> None:
    store = "WL" + uuid.uuid4().hex[:6].upper()
    for n in range(2):  # at least these visits, when the module runs alone
        visit(container, store, "2025-05-12", n)
    python_and_set_based(container, tmp_path, (997,))
    with duckdb.connect(str(tmp_path / "sql997.duckdb"), read_only=True) as in_sql:
        assert in_sql.execute("SELECT position FROM analytics_position").fetchone() == \
            (container.app.recorder.max_notification_id(),)
        assert in_sql.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = ?",
                              [store]).fetchone() == (2,)
