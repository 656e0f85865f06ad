"""The dashboard in a real headless browser (Debian's chromium driven by Playwright): sign in
with the form, filter with the form, read the figures in English and Chinese, take a screenshot.

The API runs in a uvicorn thread on a free port over the session's database; the store is the
one of tests/integration/dashboard_scenario.py, whose figures are worked out there.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, sync_playwright

from api.main import create_app
from api.routes.analytics import COOKIE
from servicecore.container import Container
from tests.integration.analytics_support import publish_analytics
from tests.integration.dashboard_scenario import MASTER_NAME, dashboard_store

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    """Debian's chromium (CI installs it with apt); skipping is only for a machine without."""
    for candidate in (os.environ.get("SERVICECORE_TEST_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no chromium binary found (apt-get install chromium, or set "
                "SERVICECORE_TEST_CHROMIUM); .ci/run installs it")


@pytest.fixture(scope="module")
def server(container: Container) -> Iterator[str]:
    """The API on 127.0.0.1 and a free port, in a thread; stopped at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(container.api_context()), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    http = uvicorn.Server(config)
    thread = threading.Thread(target=http.run, name="dashboard-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not http.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    http.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def store(container: Container) -> str:
    store = "BR" + uuid.uuid4().hex[:6].upper()
    dashboard_store(container, store)
    publish_analytics(container)
    return store


def figure(page: Page, name: str) -> str:
    return page.inner_text(f"[data-figure={name}] b")


def test_the_dashboard_in_a_headless_browser(
        server: str, store: str, auth: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    binary = chromium()
    token = auth("manager", "mgr-browser", [store])["Authorization"].removeprefix("Bearer ")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=binary, headless=True,
            args=CHROMIUM_FLAGS, locale="en-US", viewport={"width": 1200, "height": 900})
        try:
            page = browser.new_page()
            # Without a session the browser lands on the sign-in form, in English as asked.
            page.goto(f"{server}/analytics/dashboard?lang=en")
            assert page.url == f"{server}/analytics/dashboard/login?lang=en"
            page.fill("input[name=token]", token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server}/analytics/dashboard?lang=en")
            (cookie,) = [c for c in browser.cookies() if c["name"] == COOKIE]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert cookie["path"] == "/analytics/dashboard"
            assert page.evaluate("document.cookie") == ""  # out of reach of scripts

            # The filter form: April 2025 (the token covers one store, chosen already).
            assert page.input_value("select[name=store_id]") == store
            page.fill("input[name=date_from]", "2025-04-01")
            page.fill("input[name=date_to]", "2025-04-30")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**date_to=2025-04-30**")
            assert "token" not in page.url
            text = page.text_content("body") or ""
            assert "Service department dashboard" in text and store in text
            assert figure(page, "work_orders") == "3"
            assert "previous 1" in page.inner_text("[data-figure=work_orders]")
            assert figure(page, "labor_rate") == "265.48"
            assert figure(page, "labor_margin") == "69.5%"
            assert figure(page, "comeback_rate") == "33.3%"
            assert "2025-03-02 – 2025-03-31" in page.inner_text("#period")
            assert "Asia/Shanghai" in page.inner_text("#period")
            # The visit opened at 23:30 UTC on 31 March counts for 1 April in Shanghai.
            day = page.locator("[data-trend=work_orders] tr", has_text="2025-04-01")
            assert day.locator("td").all_text_contents() == ["2025-04-01", "1.00"]
            assert page.locator("[data-trend=work_orders] tr", has_text="2025-03-31").count() == 0
            assert MASTER_NAME in text  # a technician by name

            page.screenshot(path=str(tmp_path / "dashboard-en.png"), full_page=True)

            # The same page in Chinese, by its language link.
            page.click("a[lang=zh]")
            page.wait_for_url("**lang=zh**")
            assert page.inner_text("h1").startswith("售后服务看板")
            assert "开单数" in page.inner_text("[data-figure=work_orders]")
            assert figure(page, "work_orders") == "3"
            assert "2025-04-01" in page.inner_text("#period")
            shot = tmp_path / "dashboard-zh.png"
            page.screenshot(path=str(shot), full_page=True)

            # Signing out ends the session.
            page.click("text=退出登录")
            page.wait_for_url("**/analytics/dashboard/login**")
            assert [c for c in browser.cookies() if c["name"] == COOKIE] == []
        finally:
            browser.close()
    for png in (tmp_path / "dashboard-en.png", shot):
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, png
