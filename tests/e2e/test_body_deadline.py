"""`servicecore serve` as a process: a request body that does not all arrive within
SERVICECORE_BODY_TIMEOUT_SECONDS of its head is answered 408 and its connection closed; nothing
of it is stored, and the server serves other requests meanwhile."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx

from api.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.e2e.test_serve_process import Serve, serving
from tests.unit.test_server_body_deadline import until_closed

DEADLINE = 2
VIN = "LSVAU218XN2183294"
OPENING = json.dumps({"store_id": "S01", "customer": {"name": "王芳", "phone": "13611112222"},
                      "vehicle": {"vin": VIN, "plate": "沪B54321"}, "mileage": 30_000,
                      "complaints": ["engine light on"]}).encode()
STATEMENT = ("date,amount,reference,counterparty\n"
             "2026-05-01,1010.00,4200001234202605010001,陈静\n").encode()
TOKEN = mint_token(JWT_SECRET, "mgr-body", "manager", ["*"])


def request_head(path: str, content_type: str, framing: bytes, key: str | None = None) -> bytes:
    keyed = b"Idempotency-Key: %s\r\n" % key.encode() if key else b""
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\n"
            b"%s%s\r\n\r\n") % (path.encode(), TOKEN.encode(), content_type.encode(), keyed,
                                framing)


def opened(server: Serve, head: bytes) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port))
    conn.settimeout(30)  # a body never cut off fails here instead of hanging
    conn.sendall(head)
    return conn


def trickle(conn: socket.socket, data: bytes) -> None:
    for byte in data:
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return  # the server closed the connection
        time.sleep(0.2)


def answer_then_close(conn: socket.socket) -> bytes:
    answer = until_closed(conn)
    conn.close()
    return answer


def assert_408(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert lines[0] == b"http/1.1 408 request timeout", answer[:300]
    assert b"content-type: application/problem+json" in lines
    assert b"connection: close" in lines and b"content-length: %d" % len(body) in lines
    problem = json.loads(body)
    assert problem["type"] == "https://servicecore.dev/problems/body-timeout"
    assert (problem["status"], problem["timeout_seconds"]) == (408, DEADLINE)


def open_work_order(server: Serve, key: str) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{server.port}/work-orders", content=OPENING, timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key,
                               "Content-Type": "application/json"})


def log_head(server: Serve) -> int:
    return int(server.get("/health").json()["head_notification_id"])


def test_a_body_that_does_not_arrive_in_time_is_408_closed_and_stores_nothing(
        server_url: str, tmp_path: Path) -> None:
    with serving(server_url, tmp_path, SERVICECORE_BODY_TIMEOUT_SECONDS=str(DEADLINE)) as server:
        length = b"Content-Length: %d" % len(OPENING)
        # A body sent a byte every 0.2 s: it would take over a minute.
        trickled = opened(server, request_head("/work-orders", "application/json", length,
                                               "cut-trickled"))
        sender = threading.Thread(target=trickle, args=(trickled, OPENING), daemon=True)
        sender.start()
        # Half of a body, then silence.
        stalled = opened(server, request_head("/work-orders", "application/json", length,
                                              "cut-stalled") + OPENING[:len(OPENING) // 2])
        # A chunked body whose last chunk never comes.
        chunked = opened(server, request_head(
            "/work-orders", "application/json", b"Transfer-Encoding: chunked", "cut-chunked")
            + b"%x\r\n%s\r\n" % (40, OPENING[:40]))
        # A statement file: the route reads its body itself, in a dependency.
        statement = opened(server, request_head(
            "/reconciliation/statements/file?store_id=S01&source=bank", "text/csv",
            b"Content-Length: %d" % len(STATEMENT), "cut-statement") + STATEMENT[:30])

        # Meanwhile other requests are served, a command stored among them.
        assert server.get("/health/live").status_code == 200
        assert open_work_order(server, "whole").status_code == 201
        stored = log_head(server)

        for conn in (trickled, stalled, chunked, statement):
            assert_408(answer_then_close(conn))
        sender.join(30)

        # None of the four stored an event, nor its Idempotency-Key: the whole request with
        # the key of a cut one is new (201, not replayed), and only then replays.
        assert log_head(server) == stored
        first = open_work_order(server, "cut-stalled")
        assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
        again = open_work_order(server, "cut-stalled")
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()

        output = server.output()
        for route in ("/work-orders", "/reconciliation/statements/file"):
            assert f"sent no complete request body within {DEADLINE} s of its head " \
                   f"(POST {route}); answered 408 and closed its connection" in output
        access = [json.loads(line) for line in output.splitlines()
                  if '"servicecore.access"' in line and '"status":408' in line]
        assert sorted(line["route"] for line in access) == [
            "/reconciliation/statements/file", *["/work-orders"] * 3]
        assert "Traceback" not in output, output[-3000:]
