"""The PWA shell: manifest, service worker, offline page; accessibility and screenshots."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, axe_violations, new_context, screenshot, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PUBLIC_PAGES = [("home", "/"), ("sign-in", "/accounts/login/"), ("sign-up", "/accounts/signup/"),
                ("password-reset", "/accounts/password/reset/"), ("offline", "/offline/")]  # fmt: skip


def test_manifest_is_installable(client):
    data = client.get("/manifest.webmanifest").json()
    assert data["display"] == "standalone"
    assert data["start_url"].startswith("/")
    sizes = {(icon["sizes"], icon["purpose"]) for icon in data["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in data["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_service_worker_registers_at_root_and_offline_page_appears_offline(browser: Browser, base_url):
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{base_url}/")
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == f"{base_url}/"
    # The worker precached the shell, including the offline page.
    cached = page.evaluate(
        """async () => {
            const cache = await caches.open((await caches.keys())[0]);
            return (await cache.keys()).map((r) => new URL(r.url).pathname);
        }"""
    )
    assert "/offline/" in cached
    assert "/static/css/app.css" in cached

    context.set_offline(True)
    page.goto(f"{base_url}/accounts/")
    expect(page.get_by_role("heading", name="You're offline")).to_be_visible()
    context.set_offline(False)
    page.goto(f"{base_url}/")
    expect(page.get_by_role("heading", name="Bring your family photos back to life")).to_be_visible()
    context.close()


@pytest.mark.parametrize(("name", "path"), PUBLIC_PAGES)
def test_public_pages_have_no_serious_accessibility_violations(desktop: Page, base_url, name, path):
    desktop.goto(f"{base_url}{path}")
    assert axe_violations(desktop) == []


@pytest.mark.parametrize(("name", "path"), PUBLIC_PAGES)
def test_public_pages_fit_a_360px_phone(phone: Page, base_url, name, path):
    phone.goto(f"{base_url}{path}")
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at 360px"
    screenshot(phone, f"{name}-360")


def test_sign_up_and_account_page_by_keyboard_at_phone_size(phone: Page, base_url):
    phone.goto(f"{base_url}/")
    # The skip link is the first stop on a page.
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()
    # The sign-up form focuses its first field and can be filled and sent from the keyboard.
    phone.goto(f"{base_url}/accounts/signup/")
    expect(phone.get_by_label("Email")).to_be_focused()
    phone.keyboard.type("keys@example.com")
    phone.keyboard.press("Tab")
    phone.keyboard.type("a-long-pass-phrase")
    phone.keyboard.press("Tab")
    expect(phone.get_by_label("Repeat password")).to_be_focused()
    phone.keyboard.type("a-long-pass-phrase")
    phone.keyboard.press("Enter")
    phone.wait_for_url(f"{base_url}/photos/new/")
    expect(phone.get_by_text("Your account is ready")).to_be_visible()
    phone.goto(f"{base_url}/accounts/")
    assert axe_violations(phone) == []
    screenshot(phone, "account-360")


def test_desktop_screenshots_of_public_pages(desktop: Page, base_url):
    for name, path in PUBLIC_PAGES:
        desktop.goto(f"{base_url}{path}")
        screenshot(desktop, f"{name}-1280")
    sign_up(desktop, base_url, "shots@example.com")
    desktop.goto(f"{base_url}/accounts/")
    screenshot(desktop, "account-1280")
    assert DESKTOP["width"] == 1280 and PHONE["width"] == 360
