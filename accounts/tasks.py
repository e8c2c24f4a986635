"""Account tasks: build a data export, expire old ones, finish a deleted account's file clean-up."""

from __future__ import annotations

from celery import shared_task

from accounts.services import account_files_delete, data_export_build, data_export_cleanup, data_export_fail

# Storage hiccups are worth a few retries; after that the export says it failed, not "preparing".
EXPORT_RETRIES = 3
EXPORT_FAILED_MESSAGE = "We couldn't prepare your data. Please ask again in a little while."


@shared_task(bind=True, name="accounts.data_export_build", max_retries=EXPORT_RETRIES)
def data_export_build_task(self, export_id: int) -> None:
    try:
        data_export_build(export_id=export_id)
    except Exception as exc:
        if self.request.retries >= EXPORT_RETRIES:
            data_export_fail(export_id=export_id, message=EXPORT_FAILED_MESSAGE)
            return
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(name="accounts.data_export_cleanup")
def data_export_cleanup_task() -> int:
    return data_export_cleanup()


@shared_task(bind=True, name="accounts.account_files_delete", max_retries=8)
def account_files_delete_task(self, user_id: int) -> int:
    try:
        return account_files_delete(user_id=user_id)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(3600, 60 * 2**self.request.retries)) from exc
