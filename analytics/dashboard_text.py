"""The dashboard's words in Chinese and English, and which language a request gets.

`?lang=zh|en` decides; without it the browser's Accept-Language does (the first of zh / en by
quality); a browser that names neither gets Chinese, the language of the store's staff.
"""

from __future__ import annotations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN",
        "title": "售后服务看板",
        "all_stores": "全部门店",
        "store": "门店",
        "period": "统计期间",
        "from": "开始日期",
        "to": "结束日期",
        "apply": "查询",
        "quick": "快速选择",
        "this_month": "本月",
        "last_month": "上月",
        "last_30_days": "近30天",
        "last_90_days": "近90天",
        "this_year": "今年",
        "previous": "上期",
        "compared_with": "对比上期（同样天数）",
        "time_zone": "时区",
        "snapshot": "分析快照：事件位置 {position}，发布于 {published}",
        "no_data": "暂无数据",
        "work_orders": "开单数",
        "revenue": "营业收入（不含税，元）",
        "gross_profit": "毛利（不含税，元）",
        "labor_rate": "有效工时单价（不含税，元/小时）",
        "labor_margin": "工时毛利率（工时收入减打卡工时成本，不含税）",
        "efficiency": "技师效率（售出工时÷打卡工时）",
        "comeback_rate": "返修率（质保期内同车同故障或同一维修项目，含顾问标记）",
        "csi": "客户满意度（4–5分占比）",
        "fill_rate": "配件满足率",
        "repair_hours": "平均维修时长（小时）",
        "trend_work_orders": "开单数趋势（按{bucket}）",
        "trend_revenue": "营业收入趋势（不含税，元，按{bucket}）",
        "day": "日",
        "week": "周",
        "month": "月",
        "bucket_start": "起始日期",
        "value": "数值",
        "figures": "明细",
        "technicians": "技师效率（售出工时÷打卡工时）",
        "pay_types": "各付费类型的工时与有效工时单价",
        "pay_type": "付费类型",
        "hours": "工时（小时）",
        "rate": "有效单价（不含税，元/小时）",
        "customer": "客户付费",
        "warranty": "保修",
        "insurance": "保险",
        "internal": "内部",
        "language": "English",
        "sign_out": "退出登录",
        "login_title": "登录售后服务看板",
        "login_help": "粘贴管理员或分析员的令牌（servicecore token 生成）。令牌仅用于设置本浏览器"
                      "的会话 Cookie，不会出现在网址中。",
        "token": "令牌",
        "sign_in": "登录",
        "login_failed": "登录失败：{detail}",
    },
    "en": {
        "html_lang": "en",
        "title": "Service department dashboard",
        "all_stores": "all stores",
        "store": "Store",
        "period": "Period",
        "from": "From",
        "to": "To",
        "apply": "Show",
        "quick": "Quick choice",
        "this_month": "this month",
        "last_month": "last month",
        "last_30_days": "last 30 days",
        "last_90_days": "last 90 days",
        "this_year": "this year",
        "previous": "previous",
        "compared_with": "compared with the previous period of the same length",
        "time_zone": "time zone",
        "snapshot": "analytic snapshot at event {position}, published {published}",
        "no_data": "no data",
        "work_orders": "Work orders opened",
        "revenue": "Revenue without VAT (CNY)",
        "gross_profit": "Gross profit without VAT (CNY)",
        "labor_rate": "Effective labor rate without VAT (CNY/h)",
        "labor_margin": "Labor gross margin (labor sales less the cost of clocked time, "
                        "without VAT)",
        "efficiency": "Technician efficiency (hours sold ÷ clocked)",
        "comeback_rate": "Comeback rate (same VIN, complaint or repair within the guarantee, or marked)",
        "csi": "CSI (scores 4–5)",
        "fill_rate": "Parts fill rate",
        "repair_hours": "Average repair time (h)",
        "trend_work_orders": "Work orders opened per {bucket}",
        "trend_revenue": "Revenue without VAT per {bucket} (CNY)",
        "day": "day",
        "week": "week",
        "month": "month",
        "bucket_start": "from",
        "value": "value",
        "figures": "figures",
        "technicians": "Technician efficiency (hours sold ÷ hours clocked)",
        "pay_types": "Labor hours and effective labor rate per pay type",
        "pay_type": "pay type",
        "hours": "hours",
        "rate": "effective rate without VAT (CNY/h)",
        "customer": "customer",
        "warranty": "warranty",
        "insurance": "insurance",
        "internal": "internal",
        "language": "中文",
        "sign_out": "Sign out",
        "login_title": "Sign in to the service dashboard",
        "login_help": "Paste a manager's or analyst's token (from `servicecore token`). It only "
                      "sets this browser's session cookie and never appears in a URL.",
        "token": "Token",
        "sign_in": "Sign in",
        "login_failed": "Sign-in failed: {detail}",
    },
}


def language(asked: str | None, accept_language: str | None) -> str:
    """zh or en: the query parameter, else the best of Accept-Language, else Chinese."""
    if asked is not None and asked in LANGUAGES:
        return asked
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # equal weights keep the browser's order: the earlier one wins
        if q > best_q:
            best, best_q = primary, q
    return best
