"""The warranty-claim package as one printable HTML page (self-contained: inline CSS, no scripts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

CSS = """
@page { size: A4; margin: 14mm; }
body { font: 10.5pt/1.35 "Noto Sans", "PingFang SC", "Microsoft YaHei", Arial, sans-serif;
       color: #111; margin: 0 auto; max-width: 190mm; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid #444; }
h3 { font-size: 11pt; margin: 4mm 0 1mm; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; }
th, td { border: 1px solid #999; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td { overflow-wrap: anywhere; }
.facts th { width: 28%; }
.job { break-inside: avoid; page-break-inside: avoid; }
.problems { color: #a00; font-weight: 600; }
.muted { color: #555; font-size: 9pt; }
code { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 9pt; }
@media print { a { color: inherit; text-decoration: none; } }
"""


class _Clock:
    """Times as the store reads them: its time zone, to the minute."""

    def __init__(self, zone: ZoneInfo | None) -> None:
        self.zone = zone

    def __call__(self, iso: str | None) -> str | None:
        if not iso:
            return None
        at = datetime.fromisoformat(iso)
        return (at.astimezone(self.zone) if self.zone else at).strftime("%Y-%m-%d %H:%M")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value)) or "—"
    return escape(str(value))


def _facts(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
           numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_cell(v)}</td>' if i in numeric else
                         f"<td>{_cell(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body or '<tr><td colspan=99>none</td></tr>'}</table>"


def _lots(lots: Sequence[dict[str, Any]]) -> str:
    return "; ".join(f"{lot['lot_id']} × {lot['qty']} ({lot.get('supplier')}, "
                     f"doc {lot.get('supplier_doc')}, cert {lot.get('cert_ref')})" for lot in lots)


def _sublet(reference: str | None, invoice: dict[str, Any] | None) -> str | None:
    if not invoice:
        return reference
    text = f"{invoice['supplier']}, invoice {invoice['invoice_ref']}, cost {invoice['cost']}"
    return f"{reference}; {text}" if reference else text


def _serials(serials: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """A part's serials as two cells: those fitted; those removed with what became of each."""
    if serials is None:
        return None, None
    removed = ", ".join(f"{r['serial']} ({r['tag'] or r['disposition'].replace('_', ' ')})"
                        for r in serials["removed"])
    return ", ".join(serials["fitted"]) or None, removed or None


def _custody(tags: list[dict[str, Any]] | None) -> str | None:
    """A part's failed-part tags with their custody status and where each is kept."""
    return ", ".join(f"{t['tag_number']} ({t['custody_status'].replace('_', ' ')}, "
                     f"{t['location']})" for t in tags or []) or None


def _skills_then(q: dict[str, Any] | None) -> str | None:
    """A technician's skills when they clocked on, and what the job needed beyond them."""
    if not q:
        return None
    held = ", ".join(f"{skill} {level}" for skill, level in q["skills"].items()) or "none"
    return held if q["qualified"] else f"{held} (below: {', '.join(q['missing'])})"


def _job(job: dict[str, Any], when: _Clock) -> str:
    causal = job["causal_part"]
    punches = [(t["technician_id"], _skills_then(t.get("qualification")), when(p["clock_on"]),
                when(p["clock_off"]), p["hours"])
               for t in job["technicians"] for p in t["punches"]]
    return f"""<section class="job"><h3>Job {job['job_no']}</h3>
{_facts([("Complaint", job["complaint"]), ("Cause", job["cause"]),
         ("Correction", job["correction"]), ("Fault codes", job["fault_codes"]),
         ("Diagnosed by", job["diagnosed"] and f"{job['diagnosed']['by']} "
                          f"{when(job['diagnosed']['at'])}"),
         ("Flat-rate hours claimed", job["flat_rate_hours"]),
         ("Hours clocked", job["clocked_hours"]),
         ("Causal part", causal and f"{causal['part_number']} {causal['description'] or ''} "
                                    f"{'(named on the claim)' if causal['named_on_claim'] else ''}"
                                    f" lots: {_lots(causal['lots']) or '—'}"),
         ("Causal failed part", causal and (_custody(causal.get("custody")) or "not tagged"))])}
{_table(["Op code", "Operation", "Flat-rate h", "Master h", "List price", "Deductible",
         "Discount", "Billed", "Coverage", "Campaign", "Authorization", "Sublet"],
        [(ln["op_code"], ln["description"], ln["flat_rate_hours"],
          ln.get("master_flat_rate_hours"), ln["amount"], ln["deductible_billed"],
          ln["discount"], ln["billed_amount"], ln.get("coverage_code"), ln.get("campaign_no"),
          ln.get("authorization_ref"), _sublet(ln.get("sublet"), ln.get("sublet_invoice")))
         for ln in job["labor"]],
        numeric=(2, 3, 4, 5, 6, 7))}
{_table(["Part number", "Part", "Qty", "Issued", "List price", "Deductible", "Discount",
         "Billed", "Coverage", "Campaign", "Lots", "Serials fitted", "Removed (serial, tag)",
         "Failed part (tag, custody)"],
        [(p["part_number"], p["description"], p["qty"], p["issued_qty"], p["amount"],
          p["deductible_billed"], p["discount"], p["billed_amount"], p.get("coverage_code"),
          p.get("campaign_no"), _lots(p["lots"]), *_serials(p["serials"]),
          _custody(p.get("custody")))
         for p in job["parts"]],
        numeric=(2, 3, 4, 5, 6, 7))}
{_table(["Evidence", "Kind", "Line", "Media type", "Bytes", "SHA-256", "Kept at", "Caption",
         "By", "At", "Withdrawn"],
        [(e["evidence_id"], e["kind"], e["line_id"], e["media_type"], e["size"], e["sha256"],
          e["uri"], e["caption"], e["by"], when(e["at"]),
          e["withdrawn"] and e["withdrawn"]["reason"]) for e in job["evidence_refs"]],
        numeric=(4,))}
{_table(["Technician", "Skills then", "Clock on", "Clock off", "Hours"], punches,
        numeric=(4,))}
{_table(["QC", "Inspector", "At", "Reason"],
        [("pass" if q["passed"] else "fail", q["inspector"], when(q["at"]), q["reason"])
         for q in job["quality_checks"]])}
</section>"""


def _problems(problems: Sequence[dict[str, Any]]) -> str:
    """What an OEM would reject, first on the page, so that it is fixed before the claim goes;
    then what to check (a warning: the car's coverage could not be counted)."""
    errors = "".join(f"<li>{escape(p['detail'])}</li>" for p in problems
                     if p.get("level") != "warning")
    warnings = "".join(f"<li>{escape(p['detail'])}</li>" for p in problems
                       if p.get("level") == "warning")
    return ((f'<h2>Incomplete — fix before sending</h2><ul class="problems">{errors}</ul>'
             if errors else "")
            + (f"<h2>Check before sending</h2><ul>{warnings}</ul>" if warnings else ""))


def _still_to_come(items: Sequence[dict[str, Any]]) -> str:
    """What the visit has not reached yet that the OEM will still ask for (not a problem)."""
    if not items:
        return ""
    listed = "".join(f"<li>{escape(i['detail'])}</li>" for i in items)
    return f"<h2>Still to come before filing</h2><ul>{listed}</ul>"


def _other_visits(claim: dict[str, Any], when: _Clock) -> str:
    """The claimed serials other visits recorded: conflicts first, then the part's life."""
    found = [*claim["serial_conflicts"], *claim["serial_history"]]
    if not found:
        return ""
    names = {"removed_twice": "removed twice", "other_vehicle": "another vehicle",
             None: "same vehicle (the part's life)"}
    return "<h2>Serials on other visits</h2>" + _table(
        ["Serial", "Line", "Side", "Other visit", "Its line", "Its side", "Its VIN", "Recorded",
         "Finding"],
        [(m["serial"], m["line_id"], m["side"], m["other"]["number"], m["other"]["line_id"],
          m["other"]["side"], m["other"]["vin"], when(m["other"]["recorded_at"]),
          names[m["kind"]]) for m in found])


STEP_DETAIL = {"submitted": ("oem_claim_number", "claimed"),
               "rejected": ("reason_code", "reason"),
               "resubmitted": ("changes", "oem_claim_number", "claimed"),
               "approved": ("approved_amount", "claimed", "reason"),
               "written_off": ("kind", "amount", "settlement_number", "reason"),
               "write_off_reversed": ("write_off_id", "kind", "amount", "settlement_number",
                                      "reason")}


def _at_the_oem(outcome: dict[str, Any], when: _Clock) -> str:
    """What the OEM did with the claim: its status and figures, then each dated step."""
    receivable = outcome["receivable"] or {}
    facts = _facts([("Status at the OEM", outcome["status"].replace("_", " ")),
                    ("OEM claim number", outcome["oem_claim_number"]),
                    ("Claimed", outcome["claimed"]),
                    ("Approved", outcome["approved_amount"]),
                    ("Paid by the OEM", receivable.get("paid")),
                    ("Approved below the bill by", outcome["short_paid"])])
    steps = [(when(s["at"]), s["step"], "; ".join(
        f"{key.replace('_', ' ')}: {s[key]}" for key in STEP_DETAIL[s["step"]]
        if s.get(key) not in (None, "")), s["by"], s["role"]) for s in outcome["history"]]
    return "<h2>At the OEM</h2>" + facts + _table(["At", "Step", "Details", "By", "Role"],
                                                   steps)


def render(claim: dict[str, Any], zone: ZoneInfo | None = None) -> str:
    """The page; times in `zone` (the store's) to the minute, the JSON keeps them exact."""
    wo, car, dates = claim["work_order"], claim["vehicle"], claim["dates"]
    when, settlement = _Clock(zone), claim["settlement"]["number"]
    approvals = [(a["what"], a.get("line_id") or a.get("bill") or a.get("number"),
                  a.get("pay_type"),
                  a.get("decision") or a.get("unit_price") or a.get("amount") or a.get("qty"),
                  a.get("channel"), a.get("reason") or a.get("note"), a["by"], a["role"],
                  when(a["at"])) for a in claim["approvals"]]
    evidence = [(e["notification_id"], e["stream_id"], e["stream_version"], e["event_type"],
                 e.get("hash")) for e in claim["evidence"]]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Warranty claim {escape(wo['number'])}</title><style>{CSS}</style></head>
<body>
<h1>Warranty claim — {escape(wo['number'])}</h1>
<p class="muted">Store {escape(wo['store_id'])} · work order {escape(wo['id'])} · status
{escape(wo['status'])} · assembled from {len(claim['evidence'])} stored events{
    f" · times in {escape(str(zone))}" if zone else ""}</p>
{_problems(claim["problems"])}
{_still_to_come(claim["still_to_come"])}
<h2>Vehicle and visit</h2>
{_facts([("VIN", car["vin"]), ("Plate", car["plate"]),
         ("Vehicle", f"{car['brand'] or ''} {car['model'] or ''} {car['year'] or ''}".strip()),
         ("Sale date", car["sale_date"]),
         ("Customer", f"{claim['customer']['name']} · {claim['customer']['phone']}"),
         ("Mileage in / out", f"{claim['mileage']['in']} / {claim['mileage']['out'] or '—'} km"),
         ("Opened", when(dates["opened"])), ("Checked in", when(dates["checked_in"])),
         ("Repair completed", when(dates["completed"])),
         ("Settlement confirmed",
          f"{when(dates['settlement_confirmed']) or '—'} ({settlement or '—'})"),
         ("Settled", when(dates["settled"])),
         ("Delivered", when(dates["delivered"])), ("Closed", when(dates["closed"]))])}
<h2>Claimed jobs</h2>
{"".join(_job(job, when) for job in claim["jobs"])}
{_other_visits(claim, when)}
<h2>Totals</h2>
{_facts([("Flat-rate hours", claim["totals"]["flat_rate_hours"]),
         ("Hours clocked", claim["totals"]["clocked_hours"]),
         ("Labor (list price)", claim["totals"]["labor"]),
         ("Parts (list price)", claim["totals"]["parts"]),
         ("List price", claim["totals"]["list_price"]),
         ("Deductible (the customer's)", claim["totals"]["deductible"]),
         ("Discount", claim["totals"]["discount"]),
         ("Billed to the OEM", claim["totals"]["billed"] or "not billed yet"),
         ("Warranty invoice", (claim["settlement"]["warranty_bill"] or {}).get("invoice_no")),
         ("Sublet (outside shops' invoices)", claim["totals"]["sublet_cost"])])}
{_at_the_oem(claim["oem_claim"], when)}
<h2>Towing, loaner and travel</h2>
{_table(["Kind", "Amount", "Days", "Reference", "Note", "By", "At"],
        [(c["kind"], c["amount"], c["days"], c["reference"], c["note"], c["by"], when(c["at"]))
         for c in claim["compensations"]], numeric=(1, 2))}
<h2>Approvals</h2>
{_table(["What", "Line / bill", "Pay type", "Decision / value", "Channel", "Reason / note",
         "By", "Role", "At"], approvals)}
<h2>Evidence</h2>
<p class="muted">Every stored event this package was built from: verify each against the event
log (notification id) and its hash chain (<code>servicecore audit verify</code>, anchors).</p>
{_table(["Notification id", "Stream", "Version", "Event", "Chain link (SHA-256)"], evidence,
        numeric=(0, 2))}
</body></html>
"""
