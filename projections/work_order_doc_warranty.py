"""The work-order doc's part serials, evidence references, completion certificate and comeback mark
(registered as handlers by projections/work_order_doc.py): each handler takes the event's
stored JSON state, as the doc's other handlers do. The values these events hold are text, numbers and lists of them,
which the state keeps as they are."""

from __future__ import annotations

from typing import Any

from projections.work_order_doc_values import text

State = dict[str, Any]


def _stamp(s: State) -> dict[str, Any]:
    audit = s["audit"]["_data_"]
    return {"by": audit["user_id"], "role": audit["role"], "at": audit["at"]}


def serials_recorded(s: State, doc: Any, open_pii: Any) -> Any:
    """The line's serials as last recorded; `corrections` counts the records after the first."""
    line = next(ln for ln in doc["lines"] if ln["line_id"] == s["line_id"])
    before = line.get("serials")
    line["serials"] = {"fitted": list(s["fitted"]), "removed": [dict(r) for r in s["removed"]],
                       "reason": s["reason"], **_stamp(s),
                       "corrections": before["corrections"] + 1 if before else 0}
    return doc


def evidence_added(s: State, doc: Any, open_pii: Any) -> Any:
    doc.setdefault("evidence_refs", []).append({
        **{k: s[k] for k in ("evidence_id", "job_no", "line_id", "kind", "sha256", "media_type",
                             "size", "uri", "caption")}, **_stamp(s), "withdrawn": None})
    return doc


def evidence_withdrawn(s: State, doc: Any, open_pii: Any) -> Any:
    found = next(e for e in doc["evidence_refs"] if e["evidence_id"] == s["evidence_id"])
    found["withdrawn"] = {"reason": s["reason"], **_stamp(s)}
    return doc


def completion_certified(s: State, doc: Any, open_pii: Any) -> Any:
    """The completion certificate (竣工出厂合格证): absent from the doc until one is recorded."""
    doc["completion_certificate"] = {k: s[k] for k in ("cert_no", "inspector", "repair_class")
                                     } | _stamp(s)
    return doc


def comeback_marked(s: State, doc: Any, open_pii: Any) -> Any:
    """The advisor's comeback mark: `comeback_of`, null or absent while unmarked."""
    doc["comeback_of"] = {k: text(s[k]) for k in ("earlier_work_order_id", "earlier_number",
                                                 "earlier_store_id")} | {
        "reason": s["reason"], **_stamp(s)}
    return doc


def comeback_mark_withdrawn(s: State, doc: Any, open_pii: Any) -> Any:
    """A withdrawn mark leaves `comeback_of` for `comeback_marks_withdrawn`."""
    held = doc.get("comeback_of") or {}
    doc.setdefault("comeback_marks_withdrawn", []).append(
        {**held, "withdrawn": {"reason": s["reason"], **_stamp(s)}})
    doc["comeback_of"] = None
    return doc
