"""Checkout and Billing Portal sessions against the local Stripe server, and the pages around them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from credits.billing import (
    AlreadySubscribed,
    NoBillingAccount,
    PaymentsNotConfigured,
    billing_portal,
    checkout_subscription,
    checkout_topup,
)
from credits.models import CreditTransaction, Membership
from credits.plans import UnknownPlan
from credits.selectors import credit_balance
from tests.credits import stripe_server
from tests.credits.stripe_server import StripeServer

stripe_api = stripe_server.stripe_api

URLS = {
    "success_url": "https://rekindle.test/credits/thanks/",
    "cancel_url": "https://rekindle.test/credits/",
}


@pytest.mark.django_db
def test_topup_button_sends_the_person_to_stripe_checkout(
    signed_in_client: Client, user: Any, stripe_api: StripeServer
) -> None:
    response = signed_in_client.post("/credits/buy/30/")

    assert response.status_code == 303
    assert response["Location"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    [customer_call] = stripe_api.calls("POST", "/v1/customers")
    assert customer_call.params["email"] == user.email
    assert customer_call.params["metadata[djstripe_subscriber]"] == str(user.pk)
    [session_call] = stripe_api.calls("POST", "/v1/checkout/sessions")
    sent = session_call.params
    assert sent["mode"] == "payment"
    assert sent["line_items[0][price]"] == "price_topup_30"
    assert sent["line_items[0][quantity]"] == "1"
    assert sent["client_reference_id"] == str(user.pk)
    assert (sent["metadata[user_id]"], sent["metadata[pack]"]) == (str(user.pk), "30")
    assert sent["customer"].startswith("cus_")
    assert sent["success_url"] == "http://testserver/credits/thanks/"
    assert sent["cancel_url"] == "http://testserver/credits/"
    assert session_call.headers["Authorization"] == "Bearer sk_test_RekindleLocalStripeServer0001"
    # Going to Checkout grants nothing by itself.
    assert credit_balance(user=user) == 3


@pytest.mark.django_db
def test_the_stripe_customer_is_created_once(user: Any, stripe_api: StripeServer) -> None:
    first = checkout_topup(user=user, pack_slug="10", **URLS)
    second = checkout_topup(user=user, pack_slug="100", **URLS)

    assert first != second
    assert len(stripe_api.calls("POST", "/v1/customers")) == 1
    customers = {c.params["customer"] for c in stripe_api.calls("POST", "/v1/checkout/sessions")}
    assert len(customers) == 1


@pytest.mark.django_db
def test_plan_button_opens_a_subscription_checkout(
    signed_in_client: Client, user: Any, stripe_api: StripeServer
) -> None:
    response = signed_in_client.post("/credits/plan/cherish/year/")

    assert response.status_code == 303
    [call] = stripe_api.calls("POST", "/v1/checkout/sessions")
    assert call.params["mode"] == "subscription"
    assert call.params["line_items[0][price]"] == "price_cherish_year"
    assert call.params["subscription_data[metadata][plan]"] == "cherish"
    assert call.params["subscription_data[metadata][interval]"] == "year"
    assert not Membership.objects.filter(user=user).exists()  # the plan starts with the webhook


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda u: checkout_topup(user=u, pack_slug="7", **URLS), "no credit pack called “7”"),
        (
            lambda u: checkout_subscription(user=u, plan_slug="gold", interval="month", **URLS),
            "no plan called “gold”",
        ),
        (
            lambda u: checkout_subscription(user=u, plan_slug="free", interval="month", **URLS),
            "Free plan needs no payment",
        ),
        (
            lambda u: checkout_subscription(user=u, plan_slug="cherish", interval="week", **URLS),
            "monthly or yearly",
        ),
    ],
)
def test_unknown_plan_or_pack_is_a_clear_422(
    user: Any, stripe_api: StripeServer, call: Any, message: str
) -> None:
    with pytest.raises(UnknownPlan) as error:
        call(user)

    assert error.value.status == 422
    assert message in error.value.message
    assert stripe_api.requests == []  # nothing was sent to Stripe


@pytest.mark.django_db
def test_unknown_pack_from_the_page_shows_the_message(
    signed_in_client: Client, stripe_api: StripeServer
) -> None:
    response = signed_in_client.post("/credits/buy/999/", follow=True)

    assert response.redirect_chain == [("/credits/", 302)]
    assert "There is no credit pack called “999”." in response.content.decode()
    assert stripe_api.requests == []


@pytest.mark.django_db
def test_a_pack_without_a_configured_price_says_so(
    user: Any, stripe_api: StripeServer, settings: Any
) -> None:
    settings.STRIPE_PRICE_IDS = {}

    with pytest.raises(PaymentsNotConfigured, match="price is not configured"):
        checkout_topup(user=user, pack_slug="10", **URLS)


@pytest.mark.django_db
def test_with_stripe_off_billing_says_payments_are_not_configured(
    signed_in_client: Client, user: Any, settings: Any
) -> None:
    settings.STRIPE_ENABLED = False
    settings.STRIPE_SECRET_KEY = ""

    for call in (
        lambda: checkout_topup(user=user, pack_slug="10", **URLS),
        lambda: checkout_subscription(user=user, plan_slug="remember", interval="month", **URLS),
        lambda: billing_portal(user=user, return_url=URLS["cancel_url"]),
    ):
        with pytest.raises(PaymentsNotConfigured, match="Payments are not configured"):
            call()
    page = signed_in_client.get("/credits/").content.decode()
    assert "Payments are not configured on this server" in page
    assert 'action="/credits/buy/' not in page
    response = signed_in_client.post("/credits/buy/10/", follow=True)
    assert "Payments are not configured on this server" in response.content.decode()


@pytest.mark.django_db
def test_the_credits_page_offers_packs_and_plans_when_stripe_is_on(
    signed_in_client: Client, stripe_api: StripeServer
) -> None:
    page = signed_in_client.get("/credits/").content.decode()

    for pack in ("10", "30", "100"):
        assert f'action="/credits/buy/{pack}/"' in page
    assert 'action="/credits/plan/remember/month/"' in page
    assert 'action="/credits/plan/forever/year/"' in page
    assert "Manage or cancel" not in page  # no plan yet
    assert "30 credits · $12.99" in page and "$9.99/month or $95.88/year" in page


@pytest.mark.django_db
def test_displayed_prices_follow_settings(
    signed_in_client: Client, stripe_api: StripeServer, settings: Any
) -> None:
    settings.CREDITS_PRICES_CENTS = {**settings.CREDITS_PRICES_CENTS, "topup_10": 550}
    assert "10 credits · $5.50" in signed_in_client.get("/credits/").content.decode()


@pytest.mark.django_db
def test_a_member_cannot_start_a_second_plan(user: Any, stripe_api: StripeServer) -> None:
    Membership.objects.create(user=user, plan="remember", status="active", stripe_subscription_id="sub_1")

    with pytest.raises(AlreadySubscribed):
        checkout_subscription(user=user, plan_slug="forever", interval="month", **URLS)
    assert stripe_api.calls("POST", "/v1/checkout/sessions") == []


@pytest.mark.django_db
def test_manage_shows_what_will_be_forfeited_and_when_then_opens_the_portal(
    signed_in_client: Client, user: Any, stripe_api: StripeServer
) -> None:
    checkout_topup(user=user, pack_slug="10", **URLS)  # makes the Stripe customer
    Membership.objects.create(
        user=user,
        plan="cherish",
        status="active",
        stripe_subscription_id="sub_manage",
        current_period_end=datetime(2026, 12, 24, tzinfo=UTC),
    )

    page = signed_in_client.get("/credits/").content.decode()
    assert 'href="/credits/manage/"' in page
    confirm = signed_in_client.get("/credits/manage/").content.decode()
    assert "3 credits" in confirm
    assert "24 December 2026" in confirm
    assert "forfeited" in confirm

    response = signed_in_client.post("/credits/manage/")

    assert response.status_code == 303
    assert response["Location"].startswith("https://billing.stripe.test/p/session/bps_")
    [call] = stripe_api.calls("POST", "/v1/billing_portal/sessions")
    assert call.params["customer"].startswith("cus_")
    assert call.params["return_url"] == "http://testserver/credits/"


@pytest.mark.django_db
def test_portal_without_a_stripe_customer_says_there_is_nothing_to_manage(
    signed_in_client: Client, stripe_api: StripeServer
) -> None:
    response = signed_in_client.post("/credits/manage/", follow=True)

    assert "You have no paid plan or purchases to manage yet." in response.content.decode()
    assert stripe_api.calls("POST", "/v1/billing_portal/sessions") == []
    with pytest.raises(NoBillingAccount):
        billing_portal(user=response.wsgi_request.user, return_url=URLS["cancel_url"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?session_id=cs_test_forged&paid=1",
        "?credits=100&pack=100&user_id=1",
        "?session_id={CHECKOUT_SESSION_ID}",
    ],
)
def test_a_tampered_success_url_grants_nothing(
    signed_in_client: Client, user: Any, stripe_api: StripeServer, query: str
) -> None:
    response = signed_in_client.get(f"/credits/thanks/{query}")

    assert response.status_code == 200
    assert "credits arrive in a moment" in response.content.decode()
    assert credit_balance(user=user) == 3
    assert CreditTransaction.objects.filter(user=user).count() == 1  # only the sign-up grant
    assert stripe_api.requests == []


@pytest.mark.django_db
def test_checkout_views_need_a_signed_in_person_and_a_post(client: Client, signed_in_client: Client) -> None:
    assert client.post("/credits/buy/10/").status_code == 302
    assert signed_in_client.get("/credits/buy/10/").status_code == 405


@pytest.mark.django_db
def test_the_pages_with_stripe_forms_allow_exactly_stripes_origin_in_form_action(
    signed_in_client: Client, user: Any, stripe_api: StripeServer
) -> None:
    Membership.objects.create(user=user, plan="cherish", status="active", stripe_subscription_id="sub_csp")

    def form_action(path: str) -> list[str]:
        policy = signed_in_client.get(path)["Content-Security-Policy"]
        [directive] = [d.strip() for d in policy.split(";") if d.strip().startswith("form-action")]
        return directive.split()[1:]

    assert form_action("/credits/") == ["'self'", "https://checkout.stripe.test"]
    assert form_action("/credits/manage/") == ["'self'", "https://billing.stripe.test"]
    # Every other page keeps form submissions on our own origin.
    assert form_action("/accounts/") == ["'self'"]


@pytest.mark.django_db
def test_a_stripe_url_on_an_origin_the_policy_does_not_allow_is_refused_with_a_message(
    signed_in_client: Client, stripe_api: StripeServer, settings: Any
) -> None:
    settings.STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"  # Stripe answered another origin

    response = signed_in_client.post("/credits/buy/10/", follow=True)

    assert response.redirect_chain == [("/credits/", 302)]
    assert "Payments are unavailable right now. Nothing was charged" in response.content.decode()
