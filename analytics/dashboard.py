"""The manager's dashboard page: headline figures beside the previous period, trends and
per-technician bars as inline SVG, a plain filter form (no scripts, no network), in Chinese or
English, every date in the store's time zone."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from analytics.dashboard_data import FIGURES, Board
from analytics.dashboard_text import LANGUAGES, TEXT
from analytics.periods import Change, Period, quick_choices

PATH = "/analytics/dashboard"
BETTER_LOWER = {"comeback_rate", "repair_hours"}
STYLE = """body{font:14px system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;
margin:24px;color:#222;max-width:1100px}h1{font-size:20px;margin-bottom:4px}
h2{font-size:16px;margin-top:28px}.grid{display:grid;
grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}.card{border:1px solid #ddd;
border-radius:6px;padding:10px}.card b{display:block;font-size:20px;margin:4px 0}
.muted,.card small{color:#777}.good{color:#1a7f37}.bad{color:#c62828}
form.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;margin:12px 0}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
nav a{margin-right:10px}header{display:flex;justify-content:space-between;align-items:start}
svg text{font:11px system-ui,sans-serif}table{border-collapse:collapse}td,th{padding:3px 8px;
border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}"""


@dataclass(frozen=True)
class View:
    """What the page needs besides the numbers: language, zone, the filter's choices."""

    lang: str
    zone: str
    store_id: str | None
    stores: list[str]
    all_stores: bool
    snapshot: dict[str, Any]
    today: date

    @property
    def t(self) -> dict[str, str]:
        return TEXT[self.lang]

    def link(self, period: Period | None = None, lang: str | None = None) -> str:
        query = {"lang": lang or self.lang}
        if self.store_id:
            query["store_id"] = self.store_id
        if period is not None:
            query["date_from"], query["date_to"] = period.first.isoformat(), period.last.isoformat()
        return f"{PATH}?{urlencode(query)}"


def _e(value: object) -> str:
    return html.escape(str(value))


def _shown(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    number = float(value)
    return {"count": f"{number:,.0f}", "ratio": f"{number:.1%}"}.get(kind, f"{number:,.2f}")


def _change(name: str, kind: str, change: Change, lang: str) -> str:
    if change.delta is None:
        return ""
    if kind == "ratio":
        text = f"{100 * change.delta:+.1f} {'个百分点' if lang == 'zh' else 'pt'}"
    elif change.relative is not None and abs(change.relative) >= 0.0005:
        text = f"{change.relative:+.1%}"
    else:
        text = f"{change.delta:+,.0f}" if kind == "count" else f"{change.delta:+,.2f}"
    if change.delta == 0:
        return f"<span>±0 ({_e(text)})</span>"
    up = change.delta > 0
    good = up != (name in BETTER_LOWER)
    return (f'<span class="{"up" if up else "down"} {"good" if good else "bad"}">'
            f'{"▲" if up else "▼"} {_e(text)}</span>')


def cards(board: Board, view: View) -> str:
    t, parts = view.t, ['<div class=grid id=figures>']
    for name, kind in FIGURES:
        change = board.changes[name]
        parts.append(
            f'<div class=card data-figure={name}>{_e(t[name])}<b>{_shown(change.value, kind)}</b>'
            f'<small>{_e(t["previous"])} {_shown(change.previous, kind)} '
            f'{_change(name, kind, change, view.lang)}</small></div>')
    return "".join(parts) + "</div>"


def bars(rows: list[tuple[str, float]], unit: str = "", width: int = 560,
         empty: str = "no data") -> str:
    """Horizontal bars, one per row."""
    if not rows:
        return f"<p class=muted>{_e(empty)}</p>"
    top = max(v for _, v in rows) or 1.0
    height = 22 * len(rows) + 6
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for i, (label, value) in enumerate(rows):
        y = 4 + 22 * i
        w = int((width - 210) * value / top)
        parts.append(f'<text x="0" y="{y + 13}">{_e(label)}</text>'
                     f'<rect x="140" y="{y}" width="{w}" height="16" fill="#4a7bd0"/>'
                     f'<text x="{146 + w}" y="{y + 13}">{value:,.1f}{unit}</text>')
    return "".join(parts) + "</svg>"


def _label(bucket: date, step: str) -> str:
    return bucket.strftime("%Y-%m") if step == "month" else bucket.strftime("%m-%d")


def line(points: list[tuple[date, float]], step: str, width: int = 560,
         height: int = 170) -> str:
    """A trend line over the period's buckets; every k-th bucket labelled so labels never
    overlap."""
    top = max((v for _, v in points), default=0.0) or 1.0
    gap = (width - 60) / max(len(points) - 1, 1)
    every = max(1, math.ceil(len(points) / 12))
    xy = [(40 + i * gap, height - 24 - (height - 44) * v / top) for i, (_, v) in
          enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    marks = []
    for i, ((x, y), (bucket, value)) in enumerate(zip(xy, points, strict=True)):
        marks.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#4a7bd0">'
                     f'<title>{bucket.isoformat()}: {value:,.2f}</title></circle>')
        if i % every == 0:
            marks.append(f'<text x="{x - 14:.1f}" y="{height - 6}">{_label(bucket, step)}</text>'
                         f'<text x="{x - 10:.1f}" y="{y - 6:.1f}">{value:,.0f}</text>')
    return (f'<svg width="{width}" height="{height}" role="img"><polyline fill="none" '
            f'stroke="#4a7bd0" stroke-width="2" points="{path}"/>{"".join(marks)}</svg>')


def trend(name: str, board: Board, view: View) -> str:
    t, step = view.t, board.period.bucket
    points = board.trends[name]
    rows = "".join(f"<tr><td>{b.isoformat()}</td><td>{v:,.2f}</td></tr>" for b, v in points)
    return (f'<h2>{_e(t["trend_" + name].format(bucket=t[step]))}</h2>'
            f'<div data-trend={name}>{line(points, step)}<details><summary>{_e(t["figures"])}'
            f'</summary><table><tr><th>{_e(t["bucket_start"])}</th><th>{_e(t["value"])}</th>'
            f"</tr>{rows}</table></details></div>")


def filters(board: Board, view: View) -> str:
    t, period = view.t, board.period
    everything = " selected" if view.store_id is None else ""
    options = [f'<option value=""{everything}>{_e(t["all_stores"])}</option>'
               ] if view.all_stores else []
    options += [f'<option value="{_e(s)}"{" selected" if s == view.store_id else ""}>'
                f"{_e(s)}</option>" for s in view.stores]
    quick = " ".join(f'<a href="{_e(view.link(p))}">{_e(t[key])}</a>'
                     for key, p in quick_choices(view.today).items())
    return (f'<form class=filters method=get action="{PATH}">'
            f'<input type=hidden name=lang value="{view.lang}">'
            f'<label>{_e(t["store"])}<select name=store_id>{"".join(options)}</select></label>'
            f'<label>{_e(t["from"])}<input type=date name=date_from '
            f'value="{period.first.isoformat()}"></label>'
            f'<label>{_e(t["to"])}<input type=date name=date_to '
            f'value="{period.last.isoformat()}"></label>'
            f'<button type=submit>{_e(t["apply"])}</button></form>'
            f'<nav>{_e(t["quick"])}: {quick}</nav>')


def _published(view: View) -> str:
    raw = view.snapshot.get("published_at")
    try:
        moment = datetime.fromisoformat(str(raw)).astimezone(ZoneInfo(view.zone))
    except ValueError:
        return _e(raw)
    return moment.strftime("%Y-%m-%d %H:%M")


def render(board: Board, view: View) -> str:
    t, period = view.t, board.period
    before = period.previous()
    other = next(lang for lang in LANGUAGES if lang != view.lang)
    scope = view.store_id or t["all_stores"]
    header = (
        f'<header><div><h1>{_e(t["title"])} — {_e(scope)}</h1>'
        f'<p id=period>{_e(t["period"])} {period.first.isoformat()} – {period.last.isoformat()}'
        f' · {_e(t["compared_with"])}: {before.first.isoformat()} – '
        f'{before.last.isoformat()} · {_e(t["time_zone"])} {_e(view.zone)}</p></div>'
        f'<div><a href="{_e(view.link(period, other))}" lang={other}>{_e(t["language"])}</a>'
        f'<form method=post action="{PATH}/logout"><button type=submit>{_e(t["sign_out"])}'
        "</button></form></div></header>")
    snapshot = t["snapshot"].format(position=view.snapshot.get("position"),
                                    published=_published(view))
    pay_rows = "".join(
        f'<tr><td>{_e(t.get(str(r["pay_type"]), r["pay_type"]))}</td>'
        f'<td>{_shown(r["hours"], "hours")}</td><td>{_shown(r["labor_rate"], "money")}</td></tr>'
        for r in board.pay_types)
    body = [
        header, filters(board, view), f"<p class=muted id=snapshot>{_e(snapshot)}</p>",
        cards(board, view),
        trend("work_orders", board, view), trend("revenue", board, view),
        f'<h2>{_e(t["technicians"])}</h2>',
        bars([(name, 100 * value) for name, value in board.efficiency], "%",
             empty=t["no_data"]),
        f'<h2>{_e(t["pay_types"])}</h2>',
        bars([(t.get(str(r["pay_type"]), str(r["pay_type"])), float(r["hours"] or 0))
              for r in board.pay_types], " h", empty=t["no_data"]),
        f'<table id=pay-types><tr><th>{_e(t["pay_type"])}</th><th>{_e(t["hours"])}</th>'
        f'<th>{_e(t["rate"])}</th></tr>{pay_rows}</table>' if pay_rows else "",
    ]
    return _document(view.lang, t["title"], "".join(body))


def login_page(lang: str, error: str | None = None) -> str:
    t = TEXT[lang]
    failed = (f'<p class=bad role=alert>{_e(t["login_failed"].format(detail=error))}</p>'
              if error else "")
    other = next(code for code in LANGUAGES if code != lang)
    body = (f'<h1>{_e(t["login_title"])}</h1><p class=muted>{_e(t["login_help"])}</p>{failed}'
            f'<form method=post action="{PATH}/session" class=filters>'
            f'<input type=hidden name=lang value="{lang}">'
            f'<label>{_e(t["token"])}<input type=password name=token required size=60 '
            f'autocomplete=off></label><button type=submit>{_e(t["sign_in"])}</button></form>'
            f'<p><a href="{PATH}/login?lang={other}" lang={other}>{_e(t["language"])}</a></p>')
    return _document(lang, t["login_title"], body)


def _document(lang: str, title: str, body: str) -> str:
    return (f'<!doctype html><html lang={TEXT[lang]["html_lang"]}><meta charset=utf-8>'
            f'<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title><style>{STYLE}</style><body>{body}</body></html>")
