"""Share links: public while valid, gone when revoked or expired, never for others' jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from processing.models import ShareLink

pytestmark = pytest.mark.django_db


def test_owner_shares_a_result_and_anyone_sees_it_until_revoked(signed_in_client, client, finished_job):
    response = signed_in_client.post(f"/jobs/{finished_job.pk}/share/")
    assert response.status_code == 302
    link = ShareLink.objects.get(job=finished_job)
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)
    page = signed_in_client.get(f"/jobs/{finished_job.pk}/").content.decode()
    assert f"/s/{link.token}/" in page

    public = client.get(f"/s/{link.token}/")  # signed out
    assert public.status_code == 200
    html = public.content.decode()
    assert "Compare before and after" in html and "Report this picture" in html
    assert public["Referrer-Policy"] == "no-referrer"
    before_url = public.context["before_url"]
    assert client.get(before_url).status_code == 200

    signed_in_client.post(f"/jobs/shares/{link.pk}/revoke/")
    gone = client.get(f"/s/{link.token}/")
    assert gone.status_code == 410
    assert "stopped sharing" in gone.content.decode()


def test_an_expired_link_says_so(client, user, finished_job):
    from processing.sharing import share_create

    link = share_create(user=user, job_id=finished_job.pk)
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"/s/{link.token}/")
    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_unknown_tokens_are_404_and_others_cannot_share_or_revoke(client, other_user, finished_job):
    assert client.get("/s/not-a-real-token/").status_code == 404
    client.force_login(other_user)
    assert client.post(f"/jobs/{finished_job.pk}/share/").status_code == 404
    from processing.sharing import share_create

    link = share_create(user=finished_job.owner, job_id=finished_job.pk)
    assert client.post(f"/jobs/shares/{link.pk}/revoke/").status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


def test_reporting_a_shared_picture_tells_the_admins(
    client, user, finished_job, mailoutbox, settings, django_capture_on_commit_callbacks
):
    from processing.sharing import share_create

    settings.ADMINS = [("Ops", "ops@example.com")]
    link = share_create(user=user, job_id=finished_job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/s/{link.token}/", {"reason": "not_mine", "note": "That's my grandmother"})
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    assert mailoutbox[-1].to == ["ops@example.com"]
    assert "That's my grandmother" in mailoutbox[-1].body
    bad = client.post(f"/s/{link.token}/", {"reason": "bogus"})
    assert bad.status_code == 400
