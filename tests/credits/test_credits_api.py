"""Credits page and API."""

from __future__ import annotations

import pytest

from credits.models import Membership
from credits.services import credits_charge, credits_grant

pytestmark = pytest.mark.django_db


def test_credits_api_shows_balance_tier_and_next_grant(signed_in_client, user):
    body = signed_in_client.get("/api/v1/credits").json()
    assert body["balance"] == 3
    assert body["tier"] == "free"
    assert body["prices"] == {"restore": 2, "colourize": 3, "restore_colourize": 4}
    assert body["next_grant_on"]


def test_ledger_api_is_paginated_and_only_mine(signed_in_client, user, other_user):
    credits_charge(user=user, amount=2, job_id=1, reason="Restore of photo 1")
    credits_charge(user=other_user, amount=2, job_id=2, reason="Someone else")
    body = signed_in_client.get("/api/v1/credits/ledger").json()
    assert body["count"] == 2
    assert body["items"][0]["reason"] == "Restore of photo 1"
    assert all(r["reason"] != "Someone else" for r in body["items"])


def test_ledger_api_pages_hold_fifty_rows_newest_first(signed_in_client, user):
    for n in range(60):
        credits_grant(user=user, amount=1, key=f"api:{n}", reason=f"grant {n}")
    first = signed_in_client.get("/api/v1/credits/ledger").json()
    second = signed_in_client.get("/api/v1/credits/ledger?page=2").json()
    assert first["count"] == 61  # with the sign-up grant
    assert [r["reason"] for r in first["items"][:2]] == ["grant 59", "grant 58"]
    assert len(first["items"]) == 50 and len(second["items"]) == 11
    assert second["items"][-1]["kind"] == "grant" and second["items"][-1]["amount"] == 3


def test_credits_api_needs_a_signed_in_person(client):
    assert client.get("/api/v1/credits").status_code == 401
    assert client.get("/api/v1/credits/ledger").status_code == 401


def test_a_paid_member_sees_their_plan_as_tier_in_credits_and_me(signed_in_client, user):
    Membership.objects.create(user=user, plan="cherish", interval="month", status="active")
    body = signed_in_client.get("/api/v1/credits").json()
    assert (body["tier"], body["plan"], body["monthly_credits"]) == ("cherish", "Cherish", 60)
    me = signed_in_client.get("/api/v1/me").json()
    assert (me["balance"], me["tier"]) == (3, "cherish")


def test_credits_page_shows_balance_history_and_unconfigured_payments(signed_in_client, user, settings):
    settings.STRIPE_ENABLED = False
    credits_charge(user=user, amount=2, job_id=1, reason="Restore of photo 1")
    html = signed_in_client.get("/credits/").content.decode()
    assert "Restore of photo 1" in html
    assert "Payments are not configured" in html
    assert "(your plan)" in html
