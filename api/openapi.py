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

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` names the kind of problem. Domain "
                   "refusals add fields of their own (e.g. `available`, `errors`).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"},
                   "description": "what did not validate, one entry per field"},
    },
}
DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8 JSON)",
    401: "No token, or a bad or expired one",
    403: "The token's role may not do this, or not in this store",
    404: "Unknown id (or not in the token's stores)",
    409: "Illegal in the current state, or a conflict with another change",
    412: "If-Match names a version that is no longer current",
    413: "The request body is over the configured limit",
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
            statuses = set(problem_statuses(method, operation.get("parameters", [])))
            for status in sorted(statuses | declared.keys()):
                answer = declared.get(status, {})
                # A route may answer an error in another form too (a browser page in HTML).
                content = {media: schema for media, schema in answer.get("content", {}).items()
                           if media != "application/json"}
                responses[str(status)] = {
                    "description": answer.get("description") or DESCRIPTIONS.get(status, "Refused"),
                    "content": {**content, PROBLEM: {
                        "schema": {"$ref": "#/components/schemas/Problem"}}},
                }
                headers = {**answer.get("headers", {}), **HEADERS.get(status, {})}
                if headers:
                    responses[str(status)]["headers"] = headers
            operation["responses"] = dict(sorted(responses.items()))


def problem_statuses(method: str, parameters: list[dict[str, Any]]) -> list[int]:
    """What the error contract lets an operation answer, from what it declares."""
    headers = {p["name"].lower() for p in parameters if p.get("in") == "header"}
    statuses = {422, 503}
    if "authorization" in headers:
        statuses |= {401, 403}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if method != "get":
        statuses |= {400, 404, 413}
    if "if-match" in headers:  # a command
        statuses |= {409, 412}
    return sorted(statuses)
