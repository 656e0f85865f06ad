"""The OpenAPI document says which problems each operation may answer, and in what shape.

FastAPI documents only the success and a 422 in its own format; this adds, to every
operation, the application/problem+json answers the error contract (api/errors.py) gives it.
A route that declares an error answer of its own (`responses={404: {"description": …}}`) gets
the problem shape for it too, with its description (and any other content it declares, e.g. the
dashboard's sign-in page answered again in HTML).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.errors import MAX_ERRORS, problem_body

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` names the kind of problem. Domain "
                   "refusals add fields of their own (e.g. `available`, `errors`).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": (
            "the kind of problem, for programs: …/problems/invalid-input, …/unauthenticated, "
            "…/forbidden, …/not-found, …/illegal-transition, …/version-conflict, "
            "…/stale-version, …/too-large, …/unsupported-media-type, …/body-timeout, …/unavailable, …/http-<status> (a path or method "
            "no route has), or a domain refusal's own")},
        "title": {"type": "string", "description": (
            "the kind of problem, for people: one fixed title per `type` (what happened this "
            "time is `detail`)")},
        "status": {"type": "integer", "description": "the HTTP status, repeated"},
        "detail": {"type": "string", "description": "what happened in this case"},
        "code": {"type": "string", "description": (
            "a domain refusal's own name, for programs that tell refusals of one `type` apart "
            "(`DayClosed`, `SettlementError`, `NotFound`, …)")},
        "errors": {"type": "array", "items": {"type": "object"}, "maxItems": MAX_ERRORS,
                   "description": f"what did not validate, one entry per field (the first "
                                  f"{MAX_ERRORS})"},
        "error_count": {"type": "integer", "description": (
            f"how many entries `errors` would have held, when over {MAX_ERRORS}")},
    },
}
EXAMPLES: dict[int, dict[str, Any]] = {
    400: problem_body(400, "http-400", "There was an error parsing the body"),
    401: problem_body(401, "unauthenticated", "a Bearer token is required"),
    403: problem_body(403, "forbidden", "role technician may not work orders.open"),
    404: problem_body(404, "not-found",
                      "work order 3fa85f64-5717-4562-b3fc-2c963f66afa6 not found",
                      code="NotFound"),
    409: problem_body(409, "illegal-transition", "job 1 is in_repair, not awaiting QC",
                      code="WorkOrderError"),
    412: problem_body(412, "stale-version", "version is 7, If-Match said 6", code="StaleVersion",
                      current=7),
    413: problem_body(413, "too-large", "the request body is larger than 262144 bytes",
                      limit=262144),
    415: problem_body(415, "unsupported-media-type",
                      "the body must be JSON, sent as Content-Type: application/json "
                      "(not text/plain)"),
    422: problem_body(422, "invalid-input", "the request did not validate", errors=[
        {"loc": ["body", "vehicle", "vin"], "msg": "String should have at least 17 characters",
         "type": "string_too_short"}]),
    503: problem_body(503, "unavailable", "the database is unavailable; retry shortly"),
}
DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8 JSON)",
    401: "No token, or a bad or expired one",
    403: "The token's role may not do this, or not in this store",
    404: "Unknown id (or not in the token's stores)",
    409: "Illegal in the current state, or a conflict with another change",
    412: "If-Match names a version that is no longer current",
    413: "The request body is over the configured limit",
    415: "The body is not sent as this operation reads it (JSON: Content-Type "
         "application/json), or is encoded (Content-Encoding)",
    422: "Invalid input: body, path or query (unknown query parameters included)",
    503: "The database is unavailable; retry after Retry-After seconds",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
}


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def document(schema: dict[str, Any]) -> None:
    """Add the problem answers to every operation of `schema` (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            declared = {int(code): answer for code, answer in responses.items()
                        if code.isdigit() and int(code) >= 400}
            declared.pop(422, None)  # FastAPI's own, in its own format
            statuses = set(problem_statuses(method, operation))
            for status in sorted(statuses | declared.keys()):
                answer = declared.get(status, {})
                # A route may answer an error in another form too (a browser page in HTML).
                content = {media: schema for media, schema in answer.get("content", {}).items()
                           if media != "application/json"}
                responses[str(status)] = {
                    "description": answer.get("description") or DESCRIPTIONS.get(status, "Refused"),
                    "content": {**content, PROBLEM: problem_media(status)},
                }
                headers = {**answer.get("headers", {}), **HEADERS.get(status, {})}
                if headers:
                    responses[str(status)]["headers"] = headers
            operation["responses"] = dict(sorted(responses.items()))


def problem_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """What the error contract lets an operation answer, from what it declares."""
    parameters = operation.get("parameters", [])
    headers = {p["name"].lower() for p in parameters if p.get("in") == "header"}
    statuses = {422, 503}
    if operation.get("security"):  # the bearer token (api/deps.py)
        statuses |= {401, 403}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if method != "get":
        statuses |= {400, 404, 413, 415}
    if "if-match" in headers:  # a command
        statuses |= {409, 412}
    return sorted(statuses)


def problem_media(status: int) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    if status in EXAMPLES:
        media["example"] = EXAMPLES[status]
    return media
