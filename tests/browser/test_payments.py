"""Paying in a real browser, under our real Content Security Policy.

CSP's ``form-action`` also governs where a form submission may be redirected, so Chromium
refuses the 303 from our checkout and portal views unless the policy names Stripe's origin.
These tests click "Buy", a plan and "Continue to Stripe" in Chromium *without* bypassing the
policy and land on a local stand-in for Stripe's hosted pages on another origin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from credits.models import Membership
from tests.browser.conftest import new_context
from tests.credits import stripe_server
from tests.credits.stripe_server import StripeServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

stripe_api = stripe_server.stripe_api


class _HostedPage(BaseHTTPRequestHandler):
    """Any GET answers a small page naming the path, as Stripe's hosted page would load."""

    def do_GET(self) -> None:
        body = f"<!doctype html><title>Stripe stand-in</title><h1>Stripe stand-in: {self.path}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hosted_origin(stripe_api: StripeServer, settings: Any) -> Iterator[str]:
    """A stand-in for checkout.stripe.com / billing.stripe.com on another loopback origin."""
    httpd = ThreadingHTTPServer(("127.0.0.2", 0), _HostedPage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.2:{httpd.server_address[1]}"
    stripe_api.checkout_origin = stripe_api.portal_origin = origin
    settings.STRIPE_CHECKOUT_ORIGIN = settings.STRIPE_BILLING_PORTAL_ORIGIN = origin
    yield origin
    httpd.shutdown()
    httpd.server_close()


def _signed_in_page(browser: Browser, base_url: str, user: Any) -> tuple[Page, list[str]]:
    """A Chromium page with the person's session, enforcing our CSP, and its console lines."""
    client = Client()
    client.force_login(user)
    context = new_context(browser)  # no bypass_csp: the policy is what is under test
    context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    return page, console


def test_buying_a_credit_pack_lands_on_stripe_checkout(browser: Browser, base_url, user, hosted_origin):
    page, console = _signed_in_page(browser, base_url, user)
    page.goto(f"{base_url}/credits/")

    page.get_by_role("button", name="10 credits").click()

    expect(page.get_by_role("heading", name="Stripe stand-in: /c/pay/cs_test_")).to_be_visible()
    assert page.url.startswith(f"{hosted_origin}/c/pay/cs_test_")
    assert [line for line in console if "Content Security Policy" in line or "violates" in line] == []


def test_choosing_a_plan_lands_on_stripe_checkout(browser: Browser, base_url, user, hosted_origin):
    page, console = _signed_in_page(browser, base_url, user)
    page.goto(f"{base_url}/credits/")

    page.get_by_role("button", name="Choose Cherish, billed yearly").click()

    expect(page.get_by_role("heading", name="Stripe stand-in: /c/pay/cs_test_")).to_be_visible()
    assert [line for line in console if "violates" in line] == []


def test_manage_plan_lands_on_the_billing_portal(
    browser: Browser, base_url, user, hosted_origin, stripe_api: StripeServer
):
    from credits.billing import stripe_customer_for_user

    stripe_customer_for_user(user=user)
    Membership.objects.create(
        user=user, plan="cherish", status="active", stripe_subscription_id="sub_browser"
    )
    page, console = _signed_in_page(browser, base_url, user)
    page.goto(f"{base_url}/credits/")

    page.get_by_role("link", name="Manage or cancel your plan").click()
    page.get_by_role("button", name="Continue to Stripe to manage or cancel").click()

    expect(page.get_by_role("heading", name="Stripe stand-in: /p/session/bps_")).to_be_visible()
    assert page.url.startswith(f"{hosted_origin}/p/session/bps_")
    assert [line for line in console if "violates" in line] == []
