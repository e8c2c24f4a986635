"""The credits admin: the ledger is read-only; adjustments need a reason and write a row."""

from __future__ import annotations

import pytest

from credits.models import CreditBalance, CreditTransaction
from credits.selectors import credit_balance
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


def test_staff_adjusts_credits_with_a_reason_through_the_action(staff_client, user):
    balance = CreditBalance.objects.get(user=user)
    url = "/admin/credits/creditbalance/"
    form = staff_client.post(url, {"action": "adjust", "_selected_action": [balance.pk]})
    assert form.status_code == 200
    assert "Adjust the credits of" in form.content.decode()
    staff_client.post(
        url,
        {
            "action": "adjust",
            "_selected_action": [balance.pk],
            "apply": "1",
            "amount": "5",
            "reason": "Goodwill",
        },
    )
    assert credit_balance(user=user) == 8
    row = CreditTransaction.objects.get(user=user, kind="adjustment")
    assert row.reason == "Goodwill" and row.created_by == staff_client.staff


def test_the_ledger_cannot_be_edited_or_deleted_in_the_admin(staff_client, user):
    row = CreditTransaction.objects.get(user=user)
    assert staff_client.get("/admin/credits/credittransaction/").status_code == 200
    assert staff_client.get("/admin/credits/credittransaction/add/").status_code == 403
    staff_client.post(f"/admin/credits/credittransaction/{row.pk}/change/", {"amount": "100"})
    staff_client.post(f"/admin/credits/credittransaction/{row.pk}/delete/", {"post": "yes"})
    row.refresh_from_db()
    assert row.amount == 3


def test_admin_pages_refuse_people_who_are_not_staff(client, user):
    client.force_login(user)
    response = client.get("/admin/credits/creditbalance/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_adjustment_without_a_reason_or_below_zero_changes_nothing(staff_client, user):
    balance = CreditBalance.objects.get(user=user)
    url = "/admin/credits/creditbalance/"
    base = {"action": "adjust", "_selected_action": [balance.pk], "apply": "1"}

    no_reason = staff_client.post(url, {**base, "amount": "5", "reason": ""})
    overdraw = staff_client.post(url, {**base, "amount": "-10", "reason": "Chargeback"}, follow=True)

    assert "This field is required" in no_reason.content.decode()
    assert "you have 3" in overdraw.content.decode()
    assert credit_balance(user=user) == 3
    assert not CreditTransaction.objects.filter(kind="adjustment").exists()


def test_staff_adjusts_someone_without_a_balance_row_by_email(staff_client):
    from accounts.models import User

    # given an account made outside sign-up (createsuperuser, a script): no credits yet
    person = User.objects.create_user(email="made-by-script@example.com", password=None)
    assert not CreditBalance.objects.filter(user=person).exists()
    changelist = staff_client.get("/admin/credits/creditbalance/").content.decode()
    assert "/admin/credits/creditbalance/adjust/" in changelist

    unknown = staff_client.post(
        "/admin/credits/creditbalance/adjust/", {"email": "nobody@example.com", "amount": "5", "reason": "x"}
    )
    done = staff_client.post(
        "/admin/credits/creditbalance/adjust/",
        {"email": "Made-By-Script@example.com", "amount": "10", "reason": "Beta tester"},
    )

    assert "No account has this email address" in unknown.content.decode()
    assert done.status_code == 302
    assert credit_balance(user=person) == 10
    row = CreditTransaction.objects.get(user=person)
    assert (row.kind, row.reason, row.created_by) == ("adjustment", "Beta tester", staff_client.staff)


def test_staff_without_the_ledger_permission_cannot_adjust(client, user):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_creditbalance"))
    client.force_login(viewer)
    balance = CreditBalance.objects.get(user=user)

    page = client.get("/admin/credits/creditbalance/")
    form = client.get("/admin/credits/creditbalance/adjust/")
    client.post(
        "/admin/credits/creditbalance/",
        {"action": "adjust", "_selected_action": [balance.pk], "apply": "1", "amount": "5", "reason": "x"},
    )

    assert page.status_code == 200 and "Adjust a person" not in page.content.decode()
    assert form.status_code == 403
    assert credit_balance(user=user) == 3
