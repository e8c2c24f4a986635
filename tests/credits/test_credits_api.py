"""Credits page and API."""

from __future__ import annotations

import pytest

from credits.services import credits_charge

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


def test_credits_page_shows_balance_history_and_unconfigured_payments(signed_in_client, user, settings):
    settings.STRIPE_ENABLED = False
    credits_charge(user=user, amount=2, job_id=1, reason="Restore of photo 1")
    html = signed_in_client.get("/credits/").content.decode()
    assert "Restore of photo 1" in html
    assert "Payments are not configured" in html
    assert "(your plan)" in html
