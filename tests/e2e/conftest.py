"""Fixtures for the browser tests: headless Chromium from Debian's package, driven by Playwright.

No browser is ever downloaded (``playwright install`` is never run): Playwright launches the system
``/usr/bin/chromium`` (or ``SEATWISE_CHROMIUM``). Where it, or Playwright, is missing, every browser test
is skipped with the reason and how to install it, so a run says so instead of passing silently.

People are signed in either through the sign-in form (the purchase test does it once) or, to keep the
other tests fast, by putting a token minted through the API into the page's localStorage before the app
starts, exactly where the app keeps its session. Screenshots go to ``tests/e2e/screenshots/`` on every run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.api_client import ADMIN_EMAIL, ADMIN_PASSWORD, ShowFixture, admin_headers, token
from tests.conftest import Service

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

CHROMIUM = os.environ.get("SEATWISE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT_MS = 10_000
SCRIPT_ERRORS: dict[int, list[str]] = {}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return (
            f"chromium is not installed ({CHROMIUM} not found): apt-get install chromium "
            "(Debian's package; the tests never download a browser)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]' (it drives the system chromium)"
    return None


# Module scope, not session: while Playwright's sync API runs, its event loop is the thread's running
# loop, so asyncio.run() in any later test would fail. The browser closes when the module's tests end.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = browser_missing()
    if reason is not None:
        print(f"\nbrowser tests skipped: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Person:
    email: str
    password: str
    token: str
    account: dict[str, Any]


@dataclass
class Web:
    """The service under test, an API client for setting up data, and ways to open the app."""

    base_url: str
    client: httpx.Client
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)

    def person(self, role: str = "customer", name: str = "Test Person") -> Person:
        """A fresh account with a role (customers register themselves; staff are created by the admin)."""
        email = f"{role}-{secrets.token_hex(5)}@example.com"
        password = "correct-horse-battery"
        if role == "customer":
            body = {"email": email, "password": password, "name": name}
            response = self.client.post("/api/v1/auth/register", json=body)
        else:
            body = {"email": email, "password": password, "name": name, "role": role}
            response = self.client.post("/api/v1/admin/users", headers=admin_headers(self.client), json=body)
        assert response.status_code == 201, response.text
        return self.signed(email, password)

    def show(
        self,
        title: str,
        rows: list[dict[str, Any]],
        prices: dict[str, float],
        starts_in: timedelta = timedelta(days=1),
        hold_ttl_seconds: int | None = None,
    ) -> tuple[ShowFixture, str]:
        """A show of a new movie called ``title`` plus a unique suffix, at a new theater in Pune (the
        fixtures of tests/api_client.py, with names that read like a cinema's in the screenshots)."""
        admin = admin_headers(self.client)
        title = f"{title} {secrets.token_hex(2)}"

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = self.client.post(path, headers=admin, json=body)
            assert response.status_code == 201, response.text
            created: dict[str, Any] = response.json()
            return created

        movie = post(
            "/api/v1/admin/movies",
            {"title": title, "duration_minutes": 128, "language": "English", "genres": ["drama", "mystery"]},
        )
        theater = post(
            "/api/v1/admin/theaters", {"name": "Galaxy Multiplex", "city": "Pune", "address": "12 FC Road, Pune 411004"}
        )
        screen = post(f"/api/v1/admin/theaters/{theater['id']}/screens", {"name": "Audi 1", "rows": rows})
        body: dict[str, Any] = {
            "movie_id": movie["id"],
            "screen_id": screen["id"],
            "starts_at": (datetime.now(UTC) + starts_in).isoformat(),
            "prices": prices,
        }
        if hold_ttl_seconds is not None:
            body["hold_ttl_seconds"] = hold_ttl_seconds
        show = post("/api/v1/admin/shows", body)
        return ShowFixture(show["id"], movie["id"], theater["id"], screen["id"], screen["seats"]), title

    def admin(self) -> Person:
        return self.signed(ADMIN_EMAIL, ADMIN_PASSWORD)

    def signed(self, email: str, password: str) -> Person:
        access = token(self.client, email, password)
        me = self.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 200, me.text
        return Person(email, password, access, me.json())

    def context(self, who: Person | None = None, viewport: ViewportSize | None = None) -> BrowserContext:
        """A fresh browser profile, signed in as ``who`` (the session the app keeps in localStorage)."""
        context = self.browser.new_context(
            base_url=self.base_url, viewport=viewport or DESKTOP, locale="en-IN", timezone_id="Asia/Kolkata"
        )
        context.set_default_timeout(WAIT_MS)
        self.contexts.append(context)
        if who is not None:
            script = (
                f"localStorage.setItem('seatwise.token', {json.dumps(who.token)});"
                f"localStorage.setItem('seatwise.account', {json.dumps(json.dumps(who.account))});"
            )
            context.add_init_script(script)
        return context

    def page(self, who: Person | None = None, viewport: ViewportSize | None = None) -> Page:
        page = self.context(who, viewport).new_page()
        errors = SCRIPT_ERRORS.setdefault(id(page), [])
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        return page


def shot(page: Page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot as tests/e2e/screenshots/<name>.png (rewritten on every run)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def decode_qr(path: Path) -> str | None:
    """The text of the QR code in a screenshot, read by zbarimg (Debian's zbar-tools) where it is
    installed; None where it is not (the test then checks the code's payload attribute only)."""
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        return None
    result = subprocess.run([zbarimg, "-q", "--raw", str(path)], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def no_script_errors(page: Page) -> None:
    """The page logged no uncaught error (expected refusals are shown to people, not thrown)."""
    # The browser logs every refused request ("Failed to load resource"); those are answers, not bugs.
    errors = [e for e in SCRIPT_ERRORS.get(id(page), []) if "Failed to load resource" not in e]
    assert not errors, errors


@pytest.fixture
def web(live_service: Service, browser: Browser) -> Iterator[Web]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        opened = Web(live_service.base_url, client, browser)
        try:
            yield opened
        finally:
            for context in opened.contexts:  # closes its pages and their live streams
                context.close()
