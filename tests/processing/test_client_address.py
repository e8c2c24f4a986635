"""Report rate limits count per client address (rekindle.net.client_ip): a forged
X-Forwarded-For does not escape them, and people behind one trusted proxy are counted apart."""

from __future__ import annotations

import pytest

from processing.models import Report
from processing.sharing import share_create

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"


@pytest.fixture
def shared(user, finished_job):
    return share_create(user=user, job_id=finished_job.pk)


def _report(client, shared, *, forwarded: str, remote: str = PROXY):
    return client.post(
        f"/s/{shared.token}/", {"reason": "other"}, REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded
    )


@pytest.mark.parametrize("trusted", [0, 1])
def test_a_forged_forwarded_for_does_not_escape_the_report_limit(client, shared, settings, trusted):
    settings.TRUSTED_PROXIES = trusted
    settings.REPORT_RATE = "2/h"
    # Each request claims a new address on the left; our proxy (if any) appends the real one.
    codes = [_report(client, shared, forwarded=f"192.0.2.{n}, 203.0.113.5").status_code for n in range(3)]
    assert codes == [200, 200, 429]
    assert Report.objects.count() == 2


def test_two_people_behind_a_trusted_proxy_are_counted_apart(client, shared, settings):
    settings.TRUSTED_PROXIES = 1
    settings.REPORT_RATE = "1/h"
    assert _report(client, shared, forwarded="203.0.113.5").status_code == 200
    assert _report(client, shared, forwarded="203.0.113.5").status_code == 429
    assert _report(client, shared, forwarded="203.0.113.6").status_code == 200
    assert Report.objects.count() == 2


def test_without_a_trusted_proxy_everyone_behind_it_shares_one_count(client, shared, settings):
    settings.TRUSTED_PROXIES = 0
    settings.REPORT_RATE = "1/h"
    assert _report(client, shared, forwarded="203.0.113.5").status_code == 200
    assert _report(client, shared, forwarded="203.0.113.6").status_code == 429
