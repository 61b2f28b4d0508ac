"""`/docs` renders in Debian's Chromium with no network beyond the platform itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from panthera.app import create_platform
from panthera.kernel.settings import Settings
from panthera.testing.ports import free_port
from tests.conftest import GENEROUS_GATEWAY, fast_service_settings
from tests.web.browser import launch

pytestmark = pytest.mark.e2e


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path / "data", log_level="WARNING")
    running = create_platform(
        settings, service_settings=fast_service_settings(), gateway_settings=GENEROUS_GATEWAY
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(running.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="docs-platform", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the platform did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_docs_render_offline_in_chromium(base_url: str) -> None:
    ours = urlsplit(base_url).netloc
    elsewhere: list[str] = []
    errors: list[str] = []
    browsers = contextmanager(launch)
    with browsers() as chromium:
        context = chromium.new_context()

        def offline(route: object) -> None:
            # As on a machine without internet: anything not from the platform fails.
            request = route.request  # type: ignore[attr-defined]
            if urlsplit(request.url).netloc == ours:
                route.continue_()  # type: ignore[attr-defined]
            else:
                elsewhere.append(request.url)
                route.abort("internetdisconnected")  # type: ignore[attr-defined]

        context.route("**/*", offline)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base_url}/docs")
        title = page.locator(".swagger-ui .info .title")
        title.wait_for(timeout=30_000)
        assert "PantheraConnect API" in title.inner_text()
        page.locator(".opblock-summary-path", has_text="/v1/auth/login").first.wait_for()
        assert page.locator(".opblock").count() > 20  # every service's operations
        # An operation opens and shows its documented answers.
        page.locator(".opblock-summary", has_text="/v1/auth/login").first.click()
        page.locator(".responses-table").first.wait_for()
        context.close()
    assert elsewhere == []
    assert errors == []
