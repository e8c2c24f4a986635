"""Browser tests: Playwright for Python driving Debian's Chromium against a live server.

Screenshots land in ``test-output/screenshots`` for review. axe-core (vendored from npm by
``make vendor``) is injected into pages to find accessibility violations; contexts that run
it bypass the Content Security Policy, since the policy rightly refuses injected scripts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

# Playwright's sync API runs an event loop in this thread; the live server and the ORM
# calls made by tests are ordinary blocking code, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PHONE = {"width": 360, "height": 740}
CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/accounts/confirm-email/[^/\s]+/)")
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def base_url(live_server) -> str:
    return live_server.url


def new_context(browser: Browser, *, viewport: dict[str, int] = DESKTOP, **kwargs: object) -> BrowserContext:
    context = browser.new_context(viewport=viewport, **kwargs)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, viewport=DESKTOP, bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """Run axe-core on the page; return the violations of the given impact levels."""
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def sign_up(
    page: Page, base_url: str, email: str, password: str = "a-long-pass-phrase", *, confirm: bool = True
) -> None:
    """Sign up through the form and, unless told not to, confirm the address from the email."""
    page.goto(f"{base_url}/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(password)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base_url}/photos/new/")  # the first run starts by adding a photo
    if confirm:
        confirm_email(page, base_url, email)


def confirm_email(page: Page, base_url: str, email: str) -> None:
    """Open the emailed confirmation link and press its button, as the person would.

    The live server runs in this process with Django's test mail backend, so the message
    it sent is in ``django.core.mail.outbox``.
    """
    from django.core import mail

    body = next(m.body for m in reversed(mail.outbox) if m.to == [email] and "Confirm" in m.subject)
    path = CONFIRM_LINK.search(body).group(1)
    page.goto(f"{base_url}{path}")
    page.get_by_role("button", name="Confirm my email").click()
    page.wait_for_url(f"{base_url}/")
