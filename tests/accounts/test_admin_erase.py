"""Staff erase an account from the admin (an erasure request that reached support): the same
deletion as the person's own, after a confirmation that shows what goes."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import User
from credits.models import CreditTransaction
from tests.accounts.gdpr import files_under, make_library, owned_by, tables_containing
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


def test_erasing_asks_first_then_removes_files_and_personal_data(
    superuser_client, user, other_user, monkeypatch, _isolated_media, django_capture_on_commit_callbacks
):
    lib = make_library(user, monkeypatch)
    theirs = make_library(other_user, monkeypatch)
    user_id, email = user.pk, user.email
    assert owned_by(files_under(_isolated_media), user_id)

    confirm = superuser_client.post(
        "/admin/accounts/user/", {"action": "erase", "_selected_action": [user_id]}
    )
    page = confirm.content.decode()
    assert confirm.status_code == 200 and email in page and "This cannot be undone." in page
    assert f"{len(lib.photos)} photo(s)" in page
    assert User.objects.filter(pk=user_id).exists()  # asking changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        done = superuser_client.post(
            "/admin/accounts/user/",
            {"action": "erase", "_selected_action": [user_id], "confirm": "yes"},
            follow=True,
        )
    assert f"Account {user_id}: erased" in done.content.decode()
    assert not User.objects.filter(pk=user_id).exists()
    assert owned_by(files_under(_isolated_media), user_id) == set()
    assert owned_by(files_under(_isolated_media), other_user.pk)  # someone else's files stay
    assert tables_containing(email) == []
    assert CreditTransaction.objects.filter(user__isnull=True).exists()
    call_command("credits_audit")
    assert theirs.share.job.__class__.objects.filter(owner=other_user).count() == 2


def test_only_superusers_may_erase_and_nobody_erases_themselves(superuser_client, user):
    from django.test import Client

    client = Client()
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)  # a moderator: may view and change people, not erase them
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client.force_login(staff)
    response = client.post(
        "/admin/accounts/user/", {"action": "erase", "_selected_action": [user.pk], "confirm": "yes"}
    )
    # Staff without superuser rights are not offered the action, and the POST does nothing.
    assert User.objects.filter(pk=user.pk).exists()
    assert "erase" not in client.get("/admin/accounts/user/").content.decode().lower()
    assert response.status_code == 302  # "no action selected": Django refuses unknown actions

    me = superuser_client.staff
    done = superuser_client.post(
        "/admin/accounts/user/",
        {"action": "erase", "_selected_action": [me.pk], "confirm": "yes"},
        follow=True,
    )
    assert "Delete my account" in done.content.decode()
    assert User.objects.filter(pk=me.pk).exists()
