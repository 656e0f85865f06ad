"""The progress page on a phone-sized headless chromium: the customer reads it, taps Approve,
comes back to the page, and a second tap from a stale tab decides nothing more."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from api.main import create_app
from servicecore.container import Container
from tests.e2e.test_dashboard_browser import CHROMIUM_FLAGS, PNG_SIGNATURE, chromium
from tests.e2e.test_progress_page import NAME, PHONE, PLATE, VIN, head, page_path, share, visit

PHONE_VIEWPORT = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(container: Container) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = uvicorn.Server(uvicorn.Config(create_app(container.api_context()), host="127.0.0.1",
                                         port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=http.run, name="progress-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not http.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    http.should_exit = True
    thread.join(timeout=30)


def test_the_customer_approves_on_their_phone(
        server: str, client: TestClient, auth: Callable[..., dict[str, str]], store_id: str,
        tmp_path: Path) -> None:
    binary = chromium()
    advisor = auth("advisor", "adv-browser", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-b", [store_id]))
    link = server + page_path(share(client, advisor, wo_id))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=binary, headless=True,
            args=CHROMIUM_FLAGS, locale="zh-CN", viewport=PHONE_VIEWPORT, is_mobile=True)
        try:
            page = browser.new_page()
            page.goto(link)
            text = page.text_content("body") or ""
            assert PLATE in text and "待您确认" in text and "更换前刹车片" in text
            for secret in (NAME, PHONE, VIN):
                assert secret not in text
            # Nothing overflows the phone's width.
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(tmp_path / "progress-before.png"), full_page=True)
            stale = browser.new_page()  # the same link open in a second tab
            stale.goto(link)

            # Tap Approve on the first line: back on the page with the thanks.
            page.locator("form", has=page.locator("input[value=L1]")).locator(
                "button.yes").click()
            page.wait_for_url("**notice=decided**")
            assert "已记录您的选择" in (page.text_content("body") or "")
            assert page.locator("input[name=line_id][value=L1]").count() == 0
            assert page.locator("input[name=line_id]").count() == 2
            shot = tmp_path / "progress-after.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes().startswith(PNG_SIGNATURE)

            # The second tab still offers the line; a tap there is answered, nothing recorded.
            version = client.get(f"/work-orders/{wo_id}", headers=advisor,
                                 params={"wait_for": head(client)}).json()["version"]
            stale.locator("form", has=stale.locator("input[value=L1]")).locator(
                "button.yes").click()
            stale.wait_for_url("**notice=decided**")
            doc = client.get(f"/work-orders/{wo_id}", headers=advisor,
                             params={"wait_for": head(client)}).json()
            assert doc["version"] == version
            line = next(x for x in doc["lines"] if x["line_id"] == "L1")
            assert line["authorization"]["channel"] == "customer_page"
        finally:
            browser.close()
