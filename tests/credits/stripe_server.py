"""A local Stripe API over real HTTP for the billing tests (no network).

A ``http.server`` thread answers the calls our code and dj-stripe make, with JSON shaped like
Stripe's (recorded from Stripe's API reference for the API version dj-stripe pins):

- ``POST /v1/customers``, ``/v1/checkout/sessions``, ``/v1/billing_portal/sessions``: create
  and remember the object, and answer it (sessions carry a hosted ``url``);
- ``GET /v1/account``: the platform account dj-stripe attaches objects to;
- ``GET /v1/<anything>/<id>``: the stored object with that id (what dj-stripe re-fetches while
  processing a webhook), 404 with Stripe's error body otherwise;
- ``GET /v1/invoice_payments?payment[payment_intent]=<pi>``: the stored ``invoice_payment``
  objects for that payment intent (how newer API versions link a charge to its invoice);
- ``DELETE /v1/customers/<id>`` and ``/v1/subscriptions/<id>``: the customer becomes Stripe's
  deleted stub, the subscription is cancelled (what account deletion calls).

Tests put Stripe's current state of objects in ``objects`` and read ``requests`` to check what
was sent. ``stripe.api_base`` points the stripe library here.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe
from django.http import HttpResponse
from django.test import Client

ACCOUNT = {
    "id": "acct_1RekindleLocal",
    "object": "account",
    "business_profile": {"name": "Rekindle (local)"},
    "charges_enabled": True,
    "country": "US",
    "created": 1700000000,
    "default_currency": "usd",
    "details_submitted": True,
    "email": "billing@rekindle.test",
    "metadata": {},
    "payouts_enabled": True,
    "settings": {"dashboard": {"display_name": "Rekindle"}},
    "type": "standard",
}


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class StripeServer:
    url: str = ""
    # Origins of the hosted pages the sessions' ``url`` points at (Checkout, Billing Portal).
    checkout_origin: str = "https://checkout.stripe.test"
    portal_origin: str = "https://billing.stripe.test"
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def calls(self, method: str, path_prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_local{next(self._counter):06d}"


def _metadata(params: dict[str, str]) -> dict[str, str]:
    return {m.group(1): v for k, v in params.items() if (m := re.fullmatch(r"metadata\[(.+)\]", k))}


def _create(server: StripeServer, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if path == "/v1/customers":
        obj = {
            "id": server.next_id("cus"),
            "object": "customer",
            "created": 1760000000,
            "email": params.get("email"),
            "name": params.get("name"),
            "livemode": False,
            "metadata": _metadata(params),
            "balance": 0,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "invoice_settings": {"default_payment_method": None},
        }
    elif path == "/v1/checkout/sessions":
        session_id = server.next_id("cs_test")
        obj = {
            "id": session_id,
            "object": "checkout.session",
            "created": 1760000000,
            "livemode": False,
            "mode": params.get("mode"),
            "customer": params.get("customer"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": _metadata(params),
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"{server.checkout_origin}/c/pay/{session_id}",
        }
    elif path == "/v1/billing_portal/sessions":
        portal_id = server.next_id("bps")
        obj = {
            "id": portal_id,
            "object": "billing_portal.session",
            "created": 1760000000,
            "livemode": False,
            "customer": params.get("customer"),
            "return_url": params.get("return_url"),
            "url": f"{server.portal_origin}/p/session/{portal_id}",
        }
    else:
        return 404, _error(f"Unrecognized request URL (POST: {path})")
    return 200, server.put(obj)


def _error(message: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": message}}


def _handler(server: StripeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_local")
            self.end_headers()
            self.wfile.write(data)

        def _record(self, params: dict[str, str]) -> str:
            path = urlsplit(self.path).path
            server.requests.append(Request(self.command, path, params, dict(self.headers)))
            return path

        def do_GET(self) -> None:
            path = self._record(dict(parse_qsl(urlsplit(self.path).query)))
            if path == "/v1/account":
                return self._answer(200, ACCOUNT)
            if path == "/v1/invoice_payments":
                intent = dict(parse_qsl(urlsplit(self.path).query)).get("payment[payment_intent]")
                found = [
                    o
                    for o in server.objects.values()
                    if o.get("object") == "invoice_payment" and o["payment"].get("payment_intent") == intent
                ]
                return self._answer(200, {"object": "list", "data": found, "has_more": False, "url": path})
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if "_" not in last:
                # A sub-list such as /v1/products/<id>/features: none recorded.
                return self._answer(200, {"object": "list", "data": [], "has_more": False, "url": path})
            obj = server.objects.get(last)
            if obj is None:
                return self._answer(404, _error(f"No such object: {path}"))
            return self._answer(200, obj)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            params = dict(parse_qsl(self.rfile.read(length).decode()))
            path = self._record(params)
            self._answer(*_create(server, path, params))

        def do_DELETE(self) -> None:
            path = self._record({})
            object_id = path.rstrip("/").rsplit("/", 1)[-1]
            obj = server.objects.get(object_id)
            if obj is None:
                return self._answer(404, _error(f"No such object: {object_id}"))
            if obj["object"] == "customer":
                server.objects[object_id] = {"id": object_id, "object": "customer", "deleted": True}
                return self._answer(200, server.objects[object_id])
            obj["status"] = "canceled"
            return self._answer(200, obj)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def start_stripe_server() -> tuple[StripeServer, ThreadingHTTPServer]:
    state = StripeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return state, httpd


# --- Fixtures and helpers shared by tests/credits/test_stripe_*.py ------------------------

WEBHOOK_SECRET = "whsec_rekindle_local_test_secret"
API_VERSION = "2026-05-27.dahlia"
PRICE_IDS = {
    "remember_month": "price_remember_month",
    "remember_year": "price_remember_year",
    "cherish_month": "price_cherish_month",
    "cherish_year": "price_cherish_year",
    "forever_month": "price_forever_month",
    "forever_year": "price_forever_year",
    "topup_10": "price_topup_10",
    "topup_30": "price_topup_30",
    "topup_100": "price_topup_100",
}


@pytest.fixture
def stripe_api(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeServer]:
    """Stripe switched on, pointed at the local server."""
    state, httpd = start_stripe_server()
    monkeypatch.setattr(stripe, "api_base", state.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    settings.STRIPE_SECRET_KEY = "sk_test_RekindleLocalStripeServer0001"
    settings.STRIPE_ENABLED = True
    settings.STRIPE_PRICE_IDS = PRICE_IDS
    settings.STRIPE_CHECKOUT_ORIGIN = state.checkout_origin
    settings.STRIPE_BILLING_PORTAL_ORIGIN = state.portal_origin
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def webhook_url(db: None) -> str:
    """A dj-stripe WebhookEndpoint with a known secret, as its admin creates one at Stripe."""
    from djstripe.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(
        id="we_rekindle_local",
        livemode=False,
        api_version=API_VERSION,
        enabled_events=["*"],
        secret=WEBHOOK_SECRET,
        status="enabled",
        url="https://rekindle.test/stripe/webhook/",
    )
    return f"/stripe/webhook/{endpoint.djstripe_uuid}/"


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Stripe's scheme: ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>" with the secret>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def make_event(
    event_type: str, obj: dict[str, Any], *, created: int, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{event_type.replace('.', '_')}_{obj['id']}_{created}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def deliver(client: Client, url: str, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET) -> HttpResponse:
    body = json.dumps(event)
    return client.post(
        url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body, secret)
    )
