"""Admin roles as docs/operations.md gives them: a moderator (the "Moderators" group's
permissions) handles reports and suspends ordinary people; a viewer only looks; only
superusers grant rights, change other staff accounts, and suspend or erase a superuser; a
revoked API token is never restored."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import ApiToken, User
from accounts.services import account_erase, api_token_create, api_token_revoke, api_token_update
from processing.models import Report, ReportStatus
from processing.moderation import report_share, user_suspend
from processing.sharing import share_create
from rekindle.exceptions import DomainError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# The permissions docs/operations.md lists for each role.
MODERATOR_PERMISSIONS = [
    ("processing", "view_report"),
    ("processing", "change_report"),
    ("processing", "view_moderationaction"),
    ("accounts", "view_user"),
    ("accounts", "change_user"),
]
VIEWER_PERMISSIONS = [("processing", "view_report"), ("accounts", "view_user")]


def _staff_with(name: str, permissions: list[tuple[str, str]]) -> User:
    group, _ = Group.objects.get_or_create(name=name)
    group.permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in permissions
    )
    person = UserFactory(is_staff=True)
    person.groups.add(group)
    return person


def _client_for(person: User) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def moderator() -> User:
    return _staff_with("Moderators", MODERATOR_PERMISSIONS)


@pytest.fixture
def viewer() -> User:
    return _staff_with("Report viewers", VIEWER_PERMISSIONS)


@pytest.fixture
def superuser() -> User:
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def report(user, finished_job) -> Report:
    link = share_create(user=user, job_id=finished_job.pk)
    return report_share(token=link.token, reason="other", note="check this")


# --- reports ------------------------------------------------------------------------------


def test_a_moderator_removes_reported_content(moderator, report):
    response = _client_for(moderator).post(f"/admin/processing/report/{report.pk}/remove/")
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == ReportStatus.REMOVED


def test_a_moderator_suspends_an_ordinary_owner(moderator, report, user):
    _client_for(moderator).post(f"/admin/processing/report/{report.pk}/suspend/")
    user.refresh_from_db()
    assert not user.is_active


@pytest.mark.parametrize("step", ["dismiss", "remove", "suspend"])
def test_a_viewer_sees_the_queue_but_cannot_act_on_it(viewer, report, user, step):
    client = _client_for(viewer)
    page = client.get(f"/admin/processing/report/{report.pk}/change/")
    assert page.status_code == 200
    assert "Remove the content" not in page.content.decode()
    assert client.post(f"/admin/processing/report/{report.pk}/{step}/").status_code == 403
    assert client.get(f"/admin/processing/report/{report.pk}/{step}/").status_code == 403
    report.refresh_from_db()
    user.refresh_from_db()
    assert report.status == ReportStatus.OPEN and user.is_active


def test_a_viewer_is_offered_no_bulk_actions_and_a_forged_one_does_nothing(viewer, report, user):
    client = _client_for(viewer)
    listing = client.get("/admin/processing/report/").content.decode()
    assert "remove_content" not in listing and "suspend_owner" not in listing
    client.post("/admin/processing/report/", {"action": "remove_content", "_selected_action": [report.pk]})
    client.post("/admin/processing/report/", {"action": "suspend_owner", "_selected_action": [report.pk]})
    report.refresh_from_db()
    user.refresh_from_db()
    assert report.status == ReportStatus.OPEN and user.is_active


# --- superusers ---------------------------------------------------------------------------


def test_a_moderator_cannot_suspend_a_superuser_from_a_report_or_the_people_list(
    moderator, superuser, report
):
    Report.objects.filter(pk=report.pk).update(owner=superuser)
    client = _client_for(moderator)
    page = client.post(f"/admin/processing/report/{report.pk}/suspend/", follow=True)
    assert "Only a superuser may suspend a superuser." in page.content.decode()
    client.post("/admin/accounts/user/", {"action": "suspend", "_selected_action": [superuser.pk]})
    superuser.refresh_from_db()
    report.refresh_from_db()
    assert superuser.is_active and report.status == ReportStatus.OPEN


def test_only_a_superuser_suspends_or_erases_a_superuser(moderator, superuser):
    with pytest.raises(DomainError, match="Only a superuser may suspend"):
        user_suspend(user=superuser, actor=moderator)
    with pytest.raises(DomainError, match="Only a superuser may erase"):
        account_erase(user=superuser, actor=moderator)
    assert User.objects.get(pk=superuser.pk).is_active
    other = UserFactory(is_staff=True, is_superuser=True)
    user_suspend(user=other, actor=superuser)
    assert not User.objects.get(pk=other.pk).is_active


# --- rights and other staff accounts -----------------------------------------------------------


def test_a_moderator_cannot_grant_rights(moderator, user):
    client = _client_for(moderator)
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    for field in ("is_superuser", "is_staff", "groups", "user_permissions"):
        assert f'name="{field}"' not in page
    group = Group.objects.get(name="Moderators")
    response = client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "email": user.email,
            "name": "Renamed",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [group.pk],
            "user_permissions": [Permission.objects.get(codename="change_user").pk],
        },
    )
    assert response.status_code == 302  # the rest of the form saved ...
    user.refresh_from_db()
    assert user.name == "Renamed"
    # ... but no right was granted.
    assert not user.is_staff and not user.is_superuser
    assert not user.groups.exists() and not user.user_permissions.exists()


def test_a_superuser_grants_rights(superuser, user):
    group = Group.objects.create(name="Moderators")
    _client_for(superuser).post(
        f"/admin/accounts/user/{user.pk}/change/",
        {"email": user.email, "name": "", "is_staff": "on", "groups": [group.pk]},
    )
    user.refresh_from_db()
    assert user.is_staff and list(user.groups.all()) == [group]


def test_a_moderator_cannot_change_another_staff_members_password_or_email(moderator, viewer, superuser):
    client = _client_for(moderator)
    for target in (viewer, superuser):
        password_url = f"/admin/accounts/user/{target.pk}/password/"
        assert client.get(password_url).status_code == 403
        response = client.post(
            password_url,
            {"password1": "a-new-long-passphrase-1", "password2": "a-new-long-passphrase-1"},
        )
        assert response.status_code == 403
        assert (
            client.post(
                f"/admin/accounts/user/{target.pk}/change/", {"email": "mine@example.com"}
            ).status_code
            == 403
        )
        target.refresh_from_db()
        assert not target.check_password("a-new-long-passphrase-1")
        assert target.email != "mine@example.com"


def test_a_moderator_may_reset_an_ordinary_persons_password_and_a_superuser_a_staff_members(
    moderator, superuser, viewer, user
):
    assert _client_for(moderator).get(f"/admin/accounts/user/{user.pk}/password/").status_code == 200
    _client_for(superuser).post(
        f"/admin/accounts/user/{viewer.pk}/password/",
        {"password1": "a-new-long-passphrase-1", "password2": "a-new-long-passphrase-1"},
    )
    viewer.refresh_from_db()
    assert viewer.check_password("a-new-long-passphrase-1")


# --- API tokens ---------------------------------------------------------------------------


def test_a_revoked_api_token_cannot_be_restored(superuser, user):
    token, _ = api_token_create(user=user, name="script")
    api_token_revoke(user=user, token_id=token.pk)
    revoked_at = ApiToken.objects.get(pk=token.pk).revoked_at

    client = _client_for(superuser)
    page = client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert 'name="revoked_at_0"' not in page  # read-only once revoked
    client.post(
        f"/admin/accounts/apitoken/{token.pk}/change/",
        {"name": "script", "revoked_at_0": "", "revoked_at_1": ""},
    )
    assert ApiToken.objects.get(pk=token.pk).revoked_at == revoked_at

    with pytest.raises(DomainError, match="cannot be restored"):
        api_token_update(token_id=token.pk, name="script", revoked_at=None, actor=superuser)
    assert ApiToken.objects.get(pk=token.pk).revoked_at == revoked_at


def test_staff_may_still_revoke_a_live_token_in_the_admin(superuser, user):
    token, _ = api_token_create(user=user, name="script")
    _client_for(superuser).post(
        f"/admin/accounts/apitoken/{token.pk}/change/",
        {"name": "script", "revoked_at_0": "2026-01-02", "revoked_at_1": "03:04:05"},
    )
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
