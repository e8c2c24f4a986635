"""Honest kinds: each engine declares what it really performs; the choice page, the API and
job_create offer (and charge for) only that. Credit dead ends say what is missing and when
credits arrive, and a Start with nothing chosen is a plain error, never a charge."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from credits.selectors import credit_balance, next_grant_date
from credits.services import credits_adjust
from processing import services
from processing.engines.base import Kind, engine_class
from processing.engines.local import LocalEngine
from processing.engines.runpod import RunPodEngine
from processing.kinds import kinds_offered
from processing.models import Job
from processing.services import job_create
from tests.factories import UserFactory
from tests.processing.test_jobs import ready_photo

pytestmark = pytest.mark.django_db

COLOUR_KINDS = ("colourize", "restore_colourize")
# Words a person should not have to know to understand why something is not offered.
JARGON = re.compile(r"engine|opencv|runpod|gpu|classical|local|qwen", re.IGNORECASE)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Jobs are queued, not run: these tests are about what is offered and charged."""
    sent: list[int] = []
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: sent.append(job.pk))
    return sent


def _page(client, photo):
    return client.get(reverse("processing:new", args=[photo.pk]))


def _radio(html: str, kind: str) -> str:
    match = re.search(rf'<input type="radio" name="kind" value="{kind}"[^>]*>', html)
    assert match, kind
    return match.group(0)


def test_each_engine_declares_what_it_really_performs():
    # Its "colour" is a tint; its animation a classical camera move, labelled as not AI; its
    # bring together a side-by-side stand-in, said so on the result.
    assert LocalEngine.performs == frozenset({Kind.RESTORE, Kind.ANIMATE, Kind.BRING_TOGETHER})
    assert LocalEngine.uses_hints is False
    assert RunPodEngine.performs == frozenset(Kind)
    assert RunPodEngine.uses_hints is True
    assert engine_class("local") is LocalEngine and engine_class("runpod") is RunPodEngine


def test_kinds_offered_follow_the_engine_with_a_plain_reason():
    local = {o.value: o for o in kinds_offered(engine="local")}
    assert local["restore"].available and local["restore"].reason == ""
    for kind in COLOUR_KINDS:
        assert not local[kind].available
        assert local[kind].reason and not JARGON.search(local[kind].reason)
    assert all(o.available for o in kinds_offered(engine="runpod"))
    assert [o.price for o in kinds_offered(engine="runpod", single_photo=True)] == [2, 3, 4, 8]
    assert [o.price for o in kinds_offered(engine="runpod", single_photo=False)] == [6]


@pytest.mark.parametrize("kind", COLOUR_KINDS)
def test_api_refuses_a_kind_the_engine_cannot_do_without_charging(signed_in_client, user, kind):
    photo = ready_photo(user)
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": photo.pk, "kind": kind}, content_type="application/json"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "kind_unavailable"
    assert "nothing was charged" in body["message"] and "Choose one of: restore, animate." in body["message"]
    assert not JARGON.search(body["message"])
    assert credit_balance(user=user) == 3 and Job.objects.count() == 0


def test_the_same_kind_is_accepted_and_charged_where_the_engine_colourizes(
    signed_in_client, user, settings, queued
):
    settings.ENGINE = "runpod"
    photo = ready_photo(user)
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": photo.pk, "kind": "colourize"}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json()["engine"] == "runpod"
    assert credit_balance(user=user) == 0


def test_api_with_no_kind_is_a_plain_400_and_no_charge(signed_in_client, user):
    photo = ready_photo(user)
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": photo.pk, "kind": ""}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"code": "kind_required", "message": "Choose what to do with this photo."}
    assert credit_balance(user=user) == 3 and Job.objects.count() == 0


def test_choice_page_on_an_engine_without_colour_shows_it_unavailable_and_no_hints(signed_in_client, user):
    html = _page(signed_in_client, ready_photo(user)).content.decode()
    assert "checked" in _radio(html, "restore") and "disabled" not in _radio(html, "restore")
    for kind in COLOUR_KINDS:
        radio = _radio(html, kind)
        assert 'disabled aria-disabled="true"' in radio
        assert f'aria-describedby="kind-{kind}-help"' in radio
    help_text = re.search(r'id="kind-colourize-help"[^>]*>(.*?)</span>', html, re.S).group(1)
    assert "Not available:" in help_text and "cannot add real colour" in help_text
    assert not JARGON.search(re.sub(r"<[^>]+>", "", help_text))
    assert 'name="hints"' not in html  # this engine ignores hints: none offered
    # Free credits (3) buy a restore; only the 8-credit animation asks for more.
    assert "Some options need more credits" in html and "disabled" in _radio(html, "animate")
    assert re.search(r'<button type="submit" class="btn-primary w-full">Start</button>', html)


def test_choice_page_on_an_engine_that_colourizes_offers_it_and_hints(signed_in_client, user, settings):
    settings.ENGINE = "runpod"
    html = _page(signed_in_client, ready_photo(user)).content.decode()
    assert "disabled" not in _radio(html, "colourize")
    assert 'disabled aria-disabled="true"' in _radio(html, "restore_colourize")  # 4 > 3 credits
    assert "Not enough credits." in html and "Not available:" not in html
    assert 'name="hints"' in html


@pytest.mark.parametrize("posted", [{}, {"kind": ""}])
def test_start_with_nothing_chosen_is_a_plain_error_and_no_charge(signed_in_client, user, posted):
    photo = ready_photo(user)
    response = signed_in_client.post(reverse("processing:new", args=[photo.pk]), posted)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Choose what to do with this photo." in html
    assert "Unknown kind" not in html
    assert credit_balance(user=user) == 3 and Job.objects.count() == 0


def test_start_of_an_unavailable_kind_on_the_page_is_refused_without_charge(signed_in_client, user):
    photo = ready_photo(user)
    response = signed_in_client.post(reverse("processing:new", args=[photo.pk]), {"kind": "colourize"})
    assert response.status_code == 400
    assert "is not offered here, and nothing was charged" in response.content.decode()
    assert credit_balance(user=user) == 3 and Job.objects.count() == 0


def test_one_credit_left_on_free_disables_start_and_explains_the_carry_over(signed_in_client, user, queued):
    photo = ready_photo(user)
    job_create(user=user, photo_id=photo.pk, kind="restore")  # 3 - 2 = 1 left
    html = _page(signed_in_client, photo).content.decode()
    text = " ".join(re.sub(r"<[^>]+>", "", html).split())
    when = next_grant_date(user=user)
    assert re.search(
        r'<button type="submit" class="btn-primary w-full" disabled aria-disabled="true" '
        r'aria-describedby="start-help">Start</button>',
        html,
    )
    assert 'id="start-help"' in html
    assert "You have 1 credit; Restore needs 2, so you are 1 credit short." in text
    assert f"Your 1 credit carries over: on {when.day} {when:%B} the Free plan adds 3, making 4." in text
    assert "Or buy credits to start now." in text
    assert 'href="/credits/"' in html
    assert "Unknown kind" not in text


def test_no_credits_at_all_says_when_the_next_free_credits_arrive(signed_in_client, user):
    staff = UserFactory(is_staff=True)
    credits_adjust(user=user, amount=-3, reason="test: spent elsewhere", admin_user=staff)
    html = _page(signed_in_client, ready_photo(user)).content.decode()
    text = " ".join(re.sub(r"<[^>]+>", "", html).split())
    when = next_grant_date(user=user)
    assert "You have 0 credits; Restore needs 2, so you are 2 credits short." in text
    assert f"Your next 3 free credits arrive on {when.day} {when:%B}." in text
    assert "carries over" not in text
    assert 'disabled aria-disabled="true" aria-describedby="start-help">Start' in html
