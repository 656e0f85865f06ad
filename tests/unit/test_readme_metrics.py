"""README's table of the API's metrics ("Logs, metrics and traces") against `api/metrics.py`:
every metric `GET /metrics` of the API writes is a row, and every row is a metric it writes."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest

from api.metrics import ApiMetrics

README = Path(__file__).resolve().parents[2] / "README.md"


def exposed() -> set[str]:
    """The servicecore metrics of an API process whose health report has every part."""
    metrics = ApiMetrics()
    metrics.health.report = {
        "status": "ok", "head_notification_id": 1, "projections": {"stock": {"lag": 0}},
        "analytics": {"stalled_seconds": 0.0}, "relay": {"lag": 0, "stalled_seconds": 0.0},
        "loops": {"projections": {"state": "running"}}}
    text = generate_latest(metrics.registry).decode()
    return set(re.findall(r"^# TYPE (servicecore_\w+) ", text, re.MULTILINE))


def table() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("**Metrics.** `GET /metrics` of the API", 1)[1].split("\n\n", 2)[1]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `servicecore_"):
            names.update(re.findall(r"`(servicecore_\w+)`", line.split(" | ")[0]))
    return names


def _written(name: str) -> set[str]:
    """`servicecore_loop_*` in the text below the table is its rows; a counter is written
    with `_total` in the table and exposed as such."""
    return {name, name.removesuffix("_total")}


def test_every_api_metric_is_in_the_table_and_nothing_else() -> None:
    listed, served = table(), exposed()
    assert len(served) > 5, served  # the registry was read
    missing = sorted(name for name in served if not _written(name) & listed)
    assert not missing, "metrics of the API missing from README's table: " + ", ".join(missing)
    extra = sorted(name for name in listed if not _written(name) & served)
    assert not extra, "README's metrics table names metrics the API does not write: " + \
        ", ".join(extra)
