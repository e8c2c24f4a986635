"""Staff in the browser: moderate a reported share from the admin, review costs and read the
business metrics, on a desktop and at 360 px, with no serious accessibility violations."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from processing.models import Report, ReportStatus, SpendLimit
from processing.moderation import report_share
from processing.services import job_create, job_run
from processing.sharing import share_create
from tests.browser.conftest import PHONE, axe_violations, new_context, screenshot
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.processing.test_jobs import ready_photo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reported_share(monkeypatch):
    from processing import services

    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    owner = UserFactory()
    job = job_create(user=owner, photo_id=ready_photo(owner).pk, kind="restore")
    job_run(job_id=job.pk)
    link = share_create(user=owner, job_id=job.pk)
    report_share(token=link.token, reason="offensive", note="Please look at this one")
    return link


def _admin_sign_in(page, base_url: str) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", staff.email)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    expect(page.get_by_role("link", name="Cost review")).to_be_visible()


def test_staff_removes_reported_content_from_the_moderation_queue(
    browser: Browser, live_server, reported_share
):
    base_url = live_server.url
    staff_page = new_context(browser).new_page()
    _admin_sign_in(staff_page, base_url)

    staff_page.get_by_role("link", name="Moderation queue").click()
    expect(staff_page.locator("#content h1")).to_contain_text("1 open")
    staff_page.locator("#result_list tbody tr").first.locator("th a").first.click()
    expect(staff_page.get_by_text("Please look at this one")).to_be_visible()
    screenshot(staff_page, "staff-report")
    staff_page.get_by_role("link", name="Remove the content…").click()
    expect(staff_page.get_by_text("This cannot be undone.")).to_be_visible()
    staff_page.get_by_role("button", name="Yes, remove the content").click()
    expect(staff_page.locator(".messagelist")).to_contain_text("content removed")

    report = Report.objects.get()
    assert report.status == ReportStatus.REMOVED
    visitor = new_context(browser).new_page()
    response = visitor.goto(f"{base_url}/s/{reported_share.token}/")
    assert response is not None and response.status == 404


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 800}], ids=["phone", "desktop"])
def test_staff_reads_costs_and_metrics_and_pauses_a_tier(
    browser: Browser, live_server, reported_share, viewport
):
    base_url = live_server.url
    context = new_context(browser, viewport=viewport, bypass_csp=True)
    page = context.new_page()
    _admin_sign_in(page, base_url)

    page.get_by_role("link", name="Cost review").click()
    expect(page.get_by_role("heading", name="Cost review")).to_be_visible()
    expect(page.locator("svg[role=img]").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert axe_violations(page) == []
    screenshot(page, f"staff-costs-{viewport['width']}")
    page.get_by_role("button", name="Pause free tier").click()
    expect(page.get_by_role("button", name="Resume free tier")).to_be_visible()
    assert SpendLimit.objects.get(tier_group="free").paused_manually

    page.goto(f"{base_url}/staff/metrics/")
    expect(page.get_by_role("heading", name="Business metrics")).to_be_visible()
    expect(page.get_by_role("heading", name="How each number is computed")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert axe_violations(page) == []
    screenshot(page, f"staff-metrics-{viewport['width']}")
