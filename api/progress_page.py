"""The customer's progress page: Chinese with English, for a phone, no scripts, nothing fetched.

Every value is escaped; the forms post back to the page's own link with its form token.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

from projections.progress_page import STAGES

STAGE_LABELS: dict[str, tuple[str, str]] = {
    "received": ("已接车", "Received"),
    "diagnosing": ("检查诊断中", "Diagnosing"),
    "awaiting_approval": ("待您确认", "Waiting for your approval"),
    "in_repair": ("维修中", "In repair"),
    "quality_check": ("质检中", "Quality check"),
    "ready": ("可取车", "Ready for pick-up"),
    "delivered": ("已交车", "Delivered"),
    "cancelled": ("已取消", "Cancelled"),
}
PAY_LABELS = {"customer": ("", ""), "warranty": ("保修承担", "covered by warranty"),
              "insurance": ("保险承担", "covered by insurance")}
SHARE_BELOW = ("您承担部分见下方保险理赔", "Your share: see the insurance claim below")
NOTICES = {
    "decided": ("已记录您的选择,谢谢。", "Your decision has been recorded. Thank you."),
}

STYLE = """
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;
background:#f4f5f7;color:#1d2129;font-size:16px;line-height:1.5}
main{max-width:32rem;margin:0 auto;padding:1rem}
section{background:#fff;border-radius:.75rem;padding:1rem;margin:0 0 1rem}
h1{font-size:1.25rem;margin:.25rem 0}h2{font-size:1.05rem;margin:0 0 .5rem}
.en{color:#6b7280;font-size:.85em}.plate{font-size:1.5rem;font-weight:600;letter-spacing:.05em}
ol{list-style:none;padding:0;margin:0}ol li{padding:.3rem 0 .3rem 1.4rem;position:relative;
color:#9ca3af}ol li:before{content:"";position:absolute;left:.2rem;top:.75rem;width:.6rem;
height:.6rem;border-radius:50%;background:#d1d5db}ol li.done{color:#374151}
ol li.done:before{background:#10b981}ol li.now{color:#111827;font-weight:600}
ol li.now:before{background:#2563eb}
.line{border-top:1px solid #eef0f3;padding:.6rem 0}.line:first-of-type{border-top:0}
.price{float:right;font-weight:600}.total{font-size:1.2rem;font-weight:600;text-align:right}
.buttons{display:flex;gap:.5rem;margin-top:.5rem}button{flex:1;font-size:1rem;padding:.7rem;
border-radius:.5rem;border:1px solid #d1d5db;background:#fff}
button.yes{background:#2563eb;border-color:#2563eb;color:#fff}button.yes .en{color:#dbeafe}
.notice{background:#ecfdf5;color:#065f46}.problem{background:#fef2f2;color:#991b1b}
footer{color:#9ca3af;font-size:.8rem;text-align:center;padding:0 0 2rem}
"""


def _both(zh: str, en: str) -> str:
    return f'{escape(zh)} <span class="en">{escape(en)}</span>'


def _when(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex,nofollow">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _stages(current: str) -> str:
    if current == "cancelled":
        return f'<p>{_both(*STAGE_LABELS["cancelled"])}</p>'
    at = STAGES.index(current)
    items = []
    for i, name in enumerate(STAGES):
        state = "done" if i < at else "now" if i == at else ""
        items.append(f'<li class="{state}">{_both(*STAGE_LABELS[name])}</li>')
    return f"<ol>{''.join(items)}</ol>"


def _amount(line: dict[str, Any]) -> str:
    """The line's price; on a covered line who covers it, and the customer's share of it
    (a warranty line's deductible) when there is one; on the customer's own line what the
    bill charges for it when a discount took it below the price, so that the lines' shares
    add up to the total the page asks for; and the discount the drafted bills give it."""
    zh, en = PAY_LABELS[line["pay_type"]]
    note = f'<br><span class="en">{_both(zh, en)}</span>' if zh else ""
    if line["customer_share"] is None:  # an insurance share known only as a total
        note += f'<br><span class="en">{_both(*SHARE_BELOW)}</span>'
    elif (Decimal(line["customer_share"]) if zh
          else Decimal(line["customer_share"]) != Decimal(line["price"])):
        note += (f'<br><span class="en">{_both("您承担", "Your share")} '
                 f'¥{escape(line["customer_share"])}</span>')
    if line.get("discount") and Decimal(line["discount"]):
        note += (f'<br><span class="en">{_both("优惠", "Discount")} '
                 f'-¥{escape(line["discount"])}</span>')
    return f'<span class="price">¥{escape(line["price"])}{note}</span>'


def _insurance(share: dict[str, Any]) -> str:
    """The insurer's assessment: the claim, and the deductible and excess the customer pays."""
    claim = f'{escape(share["insurer"])} {escape(share["claim_number"])}'
    rows = [f'{_both("保险理赔", "Insurance claim")} {claim}']
    for zh, en, key in (("免赔额", "Deductible", "deductible"),
                        ("超出定损金额", "Above the approved amount", "excess"),
                        ("保险项目您承担", "Your share of the insurance work", "total")):
        if Decimal(share[key]) or key == "total":
            rows.append(f'{_both(zh, en)}<span class="price">¥{escape(share[key])}</span>')
    return "".join(f'<div class="line">{row}</div>' for row in rows)


def _describe(line: dict[str, Any]) -> str:
    return (f'{escape(line["description"])}<br><span class="en">'
            f'{escape(line["quantity"])} {escape(line["unit"])}</span>')


def _decision_form(action: str, form_token: str, line: dict[str, Any]) -> str:
    return (
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="form_token" value="{escape(form_token)}">'
        f'<input type="hidden" name="line_id" value="{escape(line["line_id"])}">'
        '<div class="buttons">'
        f'<button class="yes" name="decision" value="approved">{_both("同意", "Approve")}</button>'
        f'<button name="decision" value="declined">{_both("不需要", "Decline")}</button>'
        "</div></form>"
    )


def progress_page(view: dict[str, Any], *, action: str, form_token: str,
                  notice: str | None = None, problem: str | None = None) -> str:
    parts = [
        "<section>",
        f'<div class="en">{_both("工单号", "Work order")} {escape(view["number"])}</div>',
        f'<div class="plate">{escape(view["plate"] or "")}</div>',
        f'<div class="en">{escape(view["vehicle"] or "")}</div>',
        "</section>",
    ]
    if notice in NOTICES:
        parts.append(f'<section class="notice">{_both(*NOTICES[notice])}</section>')
    if problem:
        parts.append(f'<section class="problem">{_both("未能记录您的选择", "Not recorded")}'
                     f'<br>{escape(problem)}</section>')
    parts += [f'<section><h1>{_both(*STAGE_LABELS[view["stage"]])}</h1>',
              _stages(view["stage"]), "</section>"]
    if view["promised_at"]:
        parts.append(f'<section><h2>{_both("预计取车时间", "Promised pick-up")}</h2>'
                     f'{escape(_when(view["promised_at"]))}</section>')
    if view["awaiting_decision"]:
        parts.append(f'<section><h2>{_both("待您确认的项目", "Awaiting your decision")}</h2>')
        for line in view["awaiting_decision"]:
            parts.append(f'<div class="line">{_amount(line)}{_describe(line)}'
                         f"{_decision_form(action, form_token, line)}</div>")
        parts.append("</section>")
    parts.append(f'<section><h2>{_both("已确认的项目", "Approved work")}</h2>')
    for line in view["approved"]:
        parts.append(f'<div class="line">{_amount(line)}{_describe(line)}</div>')
    for pay_type, amount in view["covered"].items():
        parts.append(f'<div class="line">{_both(*PAY_LABELS[pay_type])}'
                     f'<span class="price">¥{escape(amount)}</span></div>')
    if view.get("insurance"):
        parts.append(_insurance(view["insurance"]))
    if Decimal(view["allowances"]) > 0:
        parts.append(f'<div class="line">{_both("优惠补偿", "Credit granted")}'
                     f'<span class="price">-¥{escape(view["allowances"])}</span></div>')
        parts.append(f'<div class="total">{_both("您需支付", "Your share")} '
                     f'<s>¥{escape(view["approved_total"])}</s> '
                     f'¥{escape(view["due"])}</div></section>')
    else:
        parts.append(f'<div class="total">{_both("您需支付", "Your share")} '
                     f'¥{escape(view["approved_total"])}</div></section>')
    parts.append(f'<footer>{_both("更新于", "Updated")} {escape(_when(view["updated_at"]))}'
                 "</footer>")
    return _document(f"{view['number']} 维修进度 Repair progress", "".join(parts))


def gone_page() -> str:
    return _document("链接已失效 Link no longer valid", (
        f'<section><h1>{_both("此链接已失效", "This link is no longer valid")}</h1>'
        f'<p>{_both("请联系您的服务顾问获取新的链接。", "Please ask your service advisor for a new link.")}'
        "</p></section>"))


def unknown_page() -> str:
    return _document("链接无效 Unknown link", (
        f'<section><h1>{_both("无法识别此链接", "This link is not recognised")}</h1>'
        f'<p>{_both("请确认链接完整,或联系您的服务顾问。", "Check that the link is complete, or ask your service advisor.")}'
        "</p></section>"))


def busy_page() -> str:
    return _document("请稍后再试 Try again later", (
        f'<section><h1>{_both("尝试次数过多", "Too many attempts")}</h1>'
        f'<p>{_both("请稍后再试。", "Please try again later.")}</p></section>'))
