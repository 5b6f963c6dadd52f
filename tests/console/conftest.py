"""The console in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by
Playwright, against meterbridge and cwsim on loopback sockets. Under CI=true a missing Chromium
fails these tests instead of skipping them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import require
from tests.support.console_world import PASSWORD, ConsoleWorld, console_world
from tests.support.contract import ContractLog

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API holds an event loop on this thread
    while it runs, so it must be gone before the next module's tests use asyncio themselves."""
    require(CHROMIUM.exists(), "Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def world(database_url: str, contract_log: ContractLog) -> Iterator[ConsoleWorld]:
    with console_world(database_url, contract_log) as built:
        yield built


class Console:
    """One user's browser tab on the console, failing the test on any script error."""

    def __init__(
        self, browser: Any, world: ConsoleWorld, *, screenshots: bool, width: int = 1280, height: int = 900
    ) -> None:
        self.world = world
        self.screenshots = screenshots
        self.context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console_message)

    def _console_message(self, message: Any) -> None:
        # a form refused with 4xx (and its message on the page) is expected; anything else is not
        expected = message.text.startswith("Failed to load resource: the server responded with a status of 4")
        if message.type == "error" and not expected:
            self.errors.append(message.text)

    def go(self, path: str) -> Any:
        return self.page.goto(self.world.url + path)

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        self.go("/console")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_load_state()

    def notice(self) -> str:
        """The page's notice of what a form did (a failure's message fails the test)."""
        self.page.wait_for_selector(".notice, .error")
        error = self.page.locator(".error")
        assert error.count() == 0, f"{self.page.url}: {error.first.inner_text()}"
        text: str = self.page.locator(".notice").first.inner_text()
        return text

    def shot(self, name: str) -> None:
        """A screenshot for docs/console.md (taken on one database only)."""
        if not self.screenshots:
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"the console's scripts failed: {self.errors}"


@pytest.fixture
def open_console(browser: Any, world: ConsoleWorld, database_url: str) -> Iterator[Any]:
    opened: list[Console] = []

    def make(**size: int) -> Console:
        console = Console(browser, world, screenshots=database_url.startswith("sqlite"), **size)
        opened.append(console)
        return console

    yield make
    for console in opened:
        console.close()


def money_of(text: str) -> str:
    """'$1,234.50' -> '1234.50'."""
    found = re.search(r"-?\$[\d,]+\.\d\d", text)
    assert found, f"no amount in {text!r}"
    return found.group(0).replace("$", "").replace(",", "")
