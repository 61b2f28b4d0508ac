"""The browser the web tests drive: Debian's Chromium under Playwright.

Playwright cannot download its own browser here, so it launches the system's
`chromium` (installed by `scripts/install-browser`). One browser serves the
whole test session; each test gets fresh contexts (cookie jars) from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()


def launch() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Chromium is not installed: run scripts/install-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A browser context whose pages report console errors (a CSP violation is one)."""

    def __init__(self, browser: Browser, base_url: str, viewport: dict[str, int] | None = None):
        self.context: BrowserContext = browser.new_context(
            base_url=base_url,
            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
        )
        self.context.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.context.on("page", self._watch)

    def _watch(self, page: Page) -> None:
        def on_console(message: Any) -> None:
            # A page answered 4xx on purpose (a refused form, a 404) is logged as a failed
            # load; failed sub-resources are caught below, by their responses.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                self.errors.append(f"{page.url}: {message.text}")

        def on_response(response: Any) -> None:
            failed = response.status >= 400 and response.request.resource_type != "document"
            if failed and not response.url.endswith("/status"):  # the watcher retries those
                self.errors.append(f"{page.url}: {response.status} for {response.url}")

        page.on("console", on_console)
        page.on("response", on_response)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def new_page(self) -> Page:
        return self.context.new_page()

    def close(self) -> None:
        self.context.close()


def accessibility_violations(page: Page) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now.

    axe is evaluated rather than added as a script tag, so the page's
    Content-Security-Policy is exactly the one visitors get.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


def screenshots_dir() -> Path | None:
    """Where the tests write screenshots: `PANTHERA_SCREENSHOTS`, if set."""
    value = os.environ.get("PANTHERA_SCREENSHOTS")
    return Path(value) if value else None


def screenshot(page: Page, name: str, directory: Path | None) -> None:
    """The page at desktop and phone widths (full length), and never wider than the phone."""
    original = page.viewport_size or DESKTOP
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} is {overflow}px wider than a phone's screen"
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(directory / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
        page.screenshot(path=str(directory / f"{name}-desktop.png"))
    page.set_viewport_size(original)  # type: ignore[arg-type]
