"""What the benchmark commands (queue_bench, fault_bench) share."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.files.storage import default_storage

from accounts.models import User
from credits.models import CreditTransaction
from photos.models import Photo
from photos.services import photo_files


def bench_users_delete(user_ids: Iterable[int]) -> int:
    """Remove a bench's users (photos, jobs and memberships cascade), their ledger rows and
    their stored files; returns how many files were removed."""
    user_ids = list(user_ids)
    names = [n for p in Photo.objects.filter(owner_id__in=user_ids) for n in photo_files(p)]
    CreditTransaction.objects.filter(user_id__in=user_ids).delete()
    User.objects.filter(pk__in=user_ids).delete()
    for name in names:
        default_storage.delete(name)
    return len(names)
