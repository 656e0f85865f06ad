"""A dashboard page a manager opens in a browser: trends and per-technician bars as inline SVG
(no scripts, no network), drawn from the KPI catalogue and the fact tables."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

import duckdb

from analytics.kpis import Filters, run

STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}.grid{display:grid;
grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}.card{border:1px solid #ddd;
border-radius:6px;padding:10px}.card b{display:block;font-size:20px}.muted{color:#777}
svg text{font:11px system-ui,sans-serif}table{border-collapse:collapse}td,th{padding:3px 8px;
border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}"""


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float | Decimal) else 0.0


def bars(rows: list[tuple[str, float]], unit: str = "", width: int = 520) -> str:
    """Horizontal bars, one per row."""
    if not rows:
        return "<p class=muted>no data</p>"
    top = max(v for _, v in rows) or 1.0
    height = 22 * len(rows) + 6
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for i, (label, value) in enumerate(rows):
        y = 4 + 22 * i
        w = int((width - 190) * value / top)
        parts.append(f'<text x="0" y="{y + 13}">{html.escape(label)}</text>'
                     f'<rect x="120" y="{y}" width="{w}" height="16" fill="#4a7bd0"/>'
                     f'<text x="{126 + w}" y="{y + 13}">{value:,.2f}{unit}</text>')
    return "".join(parts) + "</svg>"


def line(points: list[tuple[str, float]], width: int = 520, height: int = 160) -> str:
    """A trend line over labelled points (e.g. months)."""
    if not points:
        return "<p class=muted>no data</p>"
    top = max(v for _, v in points) or 1.0
    step = (width - 60) / max(len(points) - 1, 1)
    xy = [(40 + i * step, height - 24 - (height - 44) * v / top) for i, (_, v) in
          enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    labels = "".join(f'<text x="{x - 14:.1f}" y="{height - 6}">{html.escape(lbl[-5:])}</text>'
                     for (x, _), (lbl, _) in zip(xy, points, strict=True))
    values = "".join(f'<text x="{x - 10:.1f}" y="{y - 6:.1f}">{v:,.0f}</text>'
                     for (x, y), (_, v) in zip(xy, points, strict=True))
    return (f'<svg width="{width}" height="{height}" role="img"><polyline fill="none" '
            f'stroke="#4a7bd0" stroke-width="2" points="{path}"/>{labels}{values}</svg>')


def render(conn: duckdb.DuckDBPyConnection, info: dict[str, Any], filters: Filters) -> str:
    where, params = "TRUE", []
    if filters.store_id:
        where, params = "store_id = ?", [filters.store_id]
    monthly = conn.execute(f"""SELECT strftime(opened_at, '%Y-%m') AS m, count(*) FROM
        fact_work_orders WHERE {where} GROUP BY 1 ORDER BY 1""", params).fetchall()
    revenue = conn.execute(f"""SELECT strftime(settled_at, '%Y-%m') AS m, sum(revenue) FROM
        fact_settlements WHERE status = 'settled' AND {where} GROUP BY 1 ORDER BY 1""",
                           params).fetchall()
    efficiency = run(conn, "technician_efficiency", filters)["rows"]
    mix = run(conn, "pay_type_mix", filters)["rows"]
    csi = run(conn, "csi", filters)["rows"][0]
    fill = run(conn, "parts_fill_rate", filters)["rows"][0]
    profit = run(conn, "gross_profit", filters)["rows"]
    repair = run(conn, "repair_time", filters)["rows"]

    def card(title: str, value: Any, note: str = "") -> str:
        shown = "–" if value is None else (f"{_num(value):.1%}" if note == "%" else
                                            f"{_num(value):,.2f}")
        return f'<div class=card>{html.escape(title)}<b>{shown}</b></div>'

    scope = html.escape(filters.store_id or "all stores")
    body = [
        f"<h1>Service department — {scope}</h1>",
        (f'<p class=muted>analytic snapshot at event {info["position"]}, published '
         f'{html.escape(str(info["published_at"]))}</p><div class=grid>'),
        card("CSI (score 4–5)", csi.get("csi"), "%"),
        card("Parts fill rate", fill.get("fill_rate"), "%"),
        card("Gross profit (CNY)", sum(_num(r["gross_profit"]) for r in profit)),
        card("Avg repair time (h)", repair[0]["avg_repair_hours"] if repair else None),
        "</div>",
        "<h2>Work orders opened per month</h2>",
        line([(str(m), _num(n)) for m, n in monthly]),
        "<h2>Revenue without VAT per month (CNY)</h2>",
        line([(str(m), _num(v)) for m, v in revenue if m]),
        "<h2>Technician efficiency (hours sold ÷ hours clocked)</h2>",
        bars([(str(r["technician_id"]), 100 * _num(r["efficiency"])) for r in efficiency
              if r["efficiency"] is not None], "%"),
        "<h2>Labor hours per pay type</h2>",
        bars([(str(r["pay_type"]), _num(r["hours"])) for r in mix], " h"),
    ]
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>servicecore dashboard"
            f"</title><style>{STYLE}</style><body>{''.join(body)}</body></html>")
