"""Every credits test that touched the database must leave the books balanced.

After each such test (before its database is rolled back or flushed), the audit command
recomputes every balance from the ledger: a scenario that leaves a mismatch fails here even
if its own assertions passed. Tests that corrupt a balance on purpose carry
``@pytest.mark.audit_breaks``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "audit_breaks: the test leaves a balance that disagrees on purpose")


@pytest.fixture(autouse=True)
def _books_balance_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("django_db")
    if marker is None or request.node.get_closest_marker("audit_breaks"):
        yield
        return
    transactional = marker.kwargs.get("transaction", False)
    # Requested from here so the database fixture is torn down after this check runs.
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    out = io.StringIO()
    try:
        call_command("credits_audit", stdout=out)
    except CommandError:
        pytest.fail(f"credits_audit after the test:\n{out.getvalue()}")
