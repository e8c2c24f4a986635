"""Account writes: sign-up, email confirmation, personal API tokens, preferences, and the GDPR pair.

Sign-up signs the person in at once but proves nothing: until the address is confirmed
(``email_confirm`` with the emailed link, a password reset, or a provider that vouches for
it) the account cannot make API tokens or start jobs, and has no free credits; confirming
grants them, once. A password change or reset revokes every API token
(``user_password_changed``); other sessions end because the password hash they were
signed in with changed.

"Download my data" (``data_export_request`` / ``data_export_build``) zips the person's photos,
results and records into one file offered through a signed, expiring link for
``DATA_EXPORT_DAYS``. "Delete my account" (``account_delete``) cancels what is open (jobs, the
Stripe plan), forfeits the balance with a ledger row (the ledger is kept, anonymised), deletes
the user row and everything that cascades from it, and removes every stored file once the
deletion has committed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import IO, Any

import stripe
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from djstripe.models import Customer

from accounts import selectors
from accounts.models import ApiToken, DataExport, DataExportStatus, User
from credits.billing import membership_for_user, stripe_personal_data_erase
from credits.selectors import user_tier
from credits.services import credits_forfeit, credits_grant_free_month
from photos.models import Photo, PhotoStatus
from photos.services import photo_files
from photos.storage import storage_key
from processing.models import Job, JobStatus
from processing.services import job_cancel_open_for_user
from rekindle.celery import queue_for_tier
from rekindle.exceptions import DomainError, EmailUnconfirmed, NotFound, RateLimited

logger = logging.getLogger(__name__)

# Writing last_used_at on every API call would turn reads into writes; once a minute is enough.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


class EmailTaken(DomainError):
    code = "email_taken"
    status = 409


def user_signup(*, email: str, password: str | None, name: str = "", email_confirmed: bool = False) -> User:
    """Create an account. Every way in (form, social login, admin script) goes through here.

    ``email_confirmed`` is for callers that already know the address is the person's (a
    provider that verified it, the local demo account); everyone else confirms by email.
    """
    email = User.objects.normalize_email(email).strip().lower()
    try:
        with transaction.atomic():
            if User.objects.filter(email__iexact=email).exists():
                raise EmailTaken("An account with this email already exists. Sign in or reset your password.")
            user = User.objects.create_user(
                email=email,
                password=password,
                name=name,
                email_confirmed_at=timezone.now() if email_confirmed else None,
            )
            if password is None:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            # The first Free month of credits comes with a proven address: now, or on confirming.
            if email_confirmed:
                credits_grant_free_month(user=user)
    except IntegrityError as exc:  # a concurrent sign-up with the same address won the race
        raise EmailTaken(
            "An account with this email already exists. Sign in or reset your password."
        ) from exc
    logger.info("user signed up", extra={"user_id": user.pk, "email_confirmed": email_confirmed})
    return user


# --- Email confirmation ------------------------------------------------------------------

# A TimestampSigner link tells a forged link from a genuine but old one, so an expired link
# gets its own message and a way to send a new one. It names the address it was sent to: it
# stops working if the account's email changes. Confirming is once; a second click is told so.
EMAIL_CONFIRM_SALT = "accounts.email-confirm"


class ConfirmationLinkInvalid(DomainError):
    code = "confirmation_link_invalid"
    status = 400


class ConfirmationLinkExpired(DomainError):
    code = "confirmation_link_expired"
    status = 410


class AlreadyConfirmed(DomainError):
    code = "already_confirmed"
    status = 409


def _confirm_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=EMAIL_CONFIRM_SALT)


def email_confirmation_token(*, user: User) -> str:
    return _confirm_signer().sign_object({"user": user.pk, "email": user.email.lower()})


def email_confirmation_send(*, user: User) -> None:
    """Email the person a link that proves the address is theirs (nothing if it is proven)."""
    if user.email_confirmed:
        return
    path = reverse("accounts:email_confirm", args=[email_confirmation_token(user=user)])
    days = max(1, settings.EMAIL_CONFIRMATION_MAX_AGE // (24 * 60 * 60))
    context = {"email": user.email, "url": f"{settings.SITE_URL}{path}", "days": days}
    send_mail(
        "Confirm your email address for Rekindle",
        render_to_string("accounts/email/email_confirm.txt", context),
        None,
        [user.email],
    )
    logger.info("email confirmation sent", extra={"user_id": user.pk})


def email_confirmation_resend(*, user: User) -> None:
    if user.email_confirmed:
        raise AlreadyConfirmed("Your email address is already confirmed.")
    email_confirmation_send(user=user)


def _link_user(data: Any) -> User | None:
    if not isinstance(data, dict):
        return None
    return User.objects.filter(pk=data.get("user"), email__iexact=data.get("email") or "").first()


def email_confirmation_user(*, token: str) -> User:
    """The account a confirmation link is for, or a domain error saying what is wrong with it.

    A genuine link past its age still counts for an account that is confirmed already, so a
    late second click reads "already confirmed" rather than "expired".
    """
    invalid = ConfirmationLinkInvalid(
        "This confirmation link doesn't work: it may be incomplete (copy the whole link from the "
        "email) or for an address the account no longer uses."
    )
    signer = _confirm_signer()
    try:
        user = _link_user(signer.unsign_object(token, max_age=settings.EMAIL_CONFIRMATION_MAX_AGE))
    except signing.SignatureExpired:
        user = _link_user(signer.unsign_object(token))
        if user is not None and user.email_confirmed:
            return user
        raise ConfirmationLinkExpired(
            "This confirmation link has expired. Sign in and send yourself a new one."
        ) from None
    except signing.BadSignature:
        raise invalid from None
    if user is None:
        raise invalid
    return user


def user_email_confirm(*, user: User) -> bool:
    """Mark the address proven; the first time, grant the Free month's credits. True if new.

    The row lock makes two clicks (or a click and a reset) grant once; the ledger's
    idempotency key for the month would refuse a second grant anyway.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.email_confirmed_at is not None:
            user.email_confirmed_at = locked.email_confirmed_at
            return False
        locked.email_confirmed_at = timezone.now()
        locked.save(update_fields=["email_confirmed_at"])
        credits_grant_free_month(user=locked)
    user.email_confirmed_at = locked.email_confirmed_at
    logger.info("email confirmed", extra={"user_id": user.pk})
    return True


def email_confirm(*, token: str) -> tuple[User, bool]:
    """Confirm the address a link was sent to. Returns the account and whether it was new."""
    user = email_confirmation_user(token=token)
    return user, user_email_confirm(user=user)


# --- Passwords and takeovers -------------------------------------------------------------


def _api_tokens_revoke_all(user: User) -> int:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def user_password_changed(*, user: User, by_reset: bool = False) -> int:
    """After the password changed (page, reset link, admin): every API token stops working.

    Other sessions end by themselves: Django checks each session's copy of the password hash
    on every request. A reset also confirms the address, since the link went there. Returns
    how many tokens were revoked.
    """
    revoked = _api_tokens_revoke_all(user)
    if by_reset:
        user_email_confirm(user=user)
    logger.info(
        "password changed", extra={"user_id": user.pk, "tokens_revoked": revoked, "by_reset": by_reset}
    )
    return revoked


def user_email_takeover(*, user: User) -> User:
    """Hand an unconfirmed account to the person a provider says owns its address.

    Whoever set the password never proved the address, so they lose the account: the
    password becomes unusable (which ends their sessions), their tokens are revoked, and the
    address counts as confirmed. An account that is already confirmed is left as it is.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.email_confirmed_at is not None:
            return locked
        locked.set_unusable_password()
        locked.save(update_fields=["password"])
        revoked = _api_tokens_revoke_all(locked)
        user_email_confirm(user=locked)
    logger.warning(
        "unconfirmed account taken over by its address's verified owner",
        extra={"user_id": locked.pk, "tokens_revoked": revoked},
    )
    return locked


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token and return it with its raw value, which is never shown again."""
    if not user.email_confirmed:
        raise EmailUnconfirmed(
            "Confirm your email address before making API tokens: open the link we emailed you, "
            "or send a new one from the top of this page."
        )
    name = name.strip()[:60] or "API token"
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, secret_hash=_hash_secret(secret))
    logger.info("api token created", extra={"user_id": user.pk, "token_prefix": prefix})
    return token, f"{settings.API_TOKEN_PREFIX}_{prefix}_{secret}"


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        logger.info("api token revoked", extra={"user_id": user.pk, "token_prefix": token.prefix})
    return token


def api_token_update(*, token_id: int, name: str, revoked_at: datetime | None, actor: User) -> ApiToken:
    """Staff's edit of a token (admin): its name, or revoking it. A revoked token stays revoked,
    at the time it was revoked: its owner makes a new one instead."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound("No such token.")
        if token.revoked_at is not None and revoked_at != token.revoked_at:
            raise DomainError("A revoked token cannot be restored: its owner can make a new one.")
        token.name = name.strip()[:60] or token.name
        newly_revoked = token.revoked_at is None and revoked_at is not None
        token.revoked_at = revoked_at
        token.save(update_fields=["name", "revoked_at"])
    if newly_revoked:
        logger.info(
            "api token revoked",
            extra={"user_id": token.user_id, "token_prefix": token.prefix, "by": actor.pk},
        )
    return token


def api_token_authenticate(*, raw_token: str) -> User | None:
    """The active user a raw token belongs to, or None for anything malformed, wrong or revoked."""
    head = f"{settings.API_TOKEN_PREFIX}_"
    if not raw_token.startswith(head) or len(raw_token) < len(head) + 14:
        return None
    prefix, sep, secret = raw_token[len(head) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash_secret(secret)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def user_update_preferences(*, user: User, notify_by_email: bool, name: str) -> User:
    user.notify_by_email = notify_by_email
    user.name = name.strip()[:150]
    user.save(update_fields=["notify_by_email", "name"])
    return user


# --- GDPR: download my data ------------------------------------------------------------

# The zip is written to memory up to this size, then to a temporary file: never all in memory.
EXPORT_SPOOL_BYTES = 16 * 1024 * 1024
EXPORT_COPY_CHUNK = 1024 * 1024

EXPORT_README = """\
Your Rekindle data
==================

This archive holds everything Rekindle keeps about you, as of {made} (UTC).

photos/<id>.jpg     Each of your photos as we keep it: straightened, cropped and prepared for
                    processing (the file you uploaded is deleted once this copy is made).
results/<id>.jpg    The result of each finished job (restored and/or colourized), named by job;
results/<id>.mp4    an animation is a short video.
account.json        Your email address, name, when you joined, your preferences, your plan
                    and your credit balance.
photos.json         Each photo's details: the name of the file you uploaded, when, its size and
                    status. "file" names its picture in photos/ (empty if it was never ready).
jobs.json           Each job: its id, the photo it used, the kind (restore, colourize or both),
                    status, credits charged, times, any error, and the share links you made.
                    "result" names its picture or video in results/.
ledger.json         Every change to your credits, oldest first: date, kind (grant, top-up,
                    charge, refund, forfeit, adjustment, clawback of a refunded payment),
                    amount, balance after, and reason.

Times are ISO 8601 in UTC. Payments themselves are handled by Stripe; your receipts are in the
emails Stripe sent you.
"""


class ExportPending(DomainError):
    code = "export_pending"
    status = 409


def data_export_request(*, user: User) -> DataExport:
    """Ask for a zip of the person's data; it is built by a task and shown on the account page."""
    now = timezone.now()
    with transaction.atomic():
        # The user row lock serialises double clicks, so two pending exports cannot both start.
        User.objects.select_for_update().get(pk=user.pk)
        mine = DataExport.objects.filter(user=user)
        if mine.filter(status=DataExportStatus.PENDING).exists():
            raise ExportPending(
                "A copy of your data is already being prepared. It will appear here when ready."
            )
        recent = (
            mine.filter(created_at__gt=now - timedelta(seconds=settings.DATA_EXPORT_INTERVAL_S))
            .exclude(status=DataExportStatus.FAILED)
            .exists()
        )
        if recent:
            raise RateLimited(
                "You can ask for a new copy of your data once an hour. Your latest copy is below."
            )
        export = DataExport.objects.create(user=user)
        transaction.on_commit(lambda: _data_export_enqueue(export=export))
    logger.info("data export requested", extra={"user_id": user.pk, "export_id": export.pk})
    return export


def _data_export_enqueue(*, export: DataExport) -> None:
    from accounts.tasks import data_export_build_task

    queue = queue_for_tier(user_tier(user=export.user))
    data_export_build_task.apply_async(args=[export.pk], queue=queue)


def _zip_json(archive: zipfile.ZipFile, name: str, data: Any) -> None:
    archive.writestr(name, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _zip_file(archive: zipfile.ZipFile, name: str, stored: str) -> bool:
    """Copy one stored file into the zip in chunks; False when it is missing from storage."""
    info = zipfile.ZipInfo(name, date_time=timezone.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED  # JPEGs do not compress; storing them is faster
    try:
        source = default_storage.open(stored, "rb")
    except FileNotFoundError:
        return False
    with source, archive.open(info, "w") as target:
        shutil.copyfileobj(source, target, EXPORT_COPY_CHUNK)
    return True


def _write_export(out: IO[bytes], *, user: User) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", EXPORT_README.format(made=timezone.now().strftime("%Y-%m-%d %H:%M")))
        _zip_json(archive, "account.json", selectors.data_export_account(user=user))
        _zip_json(archive, "photos.json", selectors.data_export_photos(user=user))
        _zip_json(archive, "jobs.json", selectors.data_export_jobs(user=user))
        _zip_json(archive, "ledger.json", selectors.data_export_ledger(user=user))
        for photo in Photo.objects.filter(owner=user, status=PhotoStatus.READY).exclude(image=""):
            if not _zip_file(archive, f"photos/{photo.pk}.jpg", photo.image.name):
                logger.warning("export: photo file missing", extra={"user_id": user.pk, "photo_id": photo.pk})
        for job in Job.objects.filter(owner=user, status=JobStatus.SUCCEEDED).exclude(result=""):
            if not _zip_file(archive, job.result_export_name, job.result.name):
                logger.warning("export: result file missing", extra={"user_id": user.pk, "job": job.pk})


def data_export_build(*, export_id: int) -> DataExport | None:
    """Build and store the zip, then mark the export ready. Safe to run twice; leaves no stray file."""
    export = DataExport.objects.select_related("user").filter(pk=export_id).first()
    if export is None or export.status != DataExportStatus.PENDING:
        return export
    user = export.user
    key = storage_key(user_id=user.pk, kind="exports", ext="zip")
    saved = ""
    try:
        with tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES) as spool:
            _write_export(spool, user=user)
            size = spool.tell()
            spool.seek(0)
            saved = default_storage.save(key, File(spool, name=key))
        with transaction.atomic():
            current = DataExport.objects.select_for_update().filter(pk=export_id).first()
            if current is None or current.status != DataExportStatus.PENDING:
                # Another delivery of the task finished first, or the account was deleted.
                default_storage.delete(saved)
                return current
            now = timezone.now()
            current.file.name = saved
            current.size_bytes = size
            current.status = DataExportStatus.READY
            current.error = ""
            current.finished_at = now
            current.expires_at = now + timedelta(days=settings.DATA_EXPORT_DAYS)
            current.save(update_fields=["file", "size_bytes", "status", "error", "finished_at", "expires_at"])
            # A new copy replaces older ones: one live download link per person is enough.
            older = list(
                DataExport.objects.filter(user_id=user.pk, status=DataExportStatus.READY).exclude(
                    pk=export_id
                )
            )
            DataExport.objects.filter(pk__in=[o.pk for o in older]).delete()
            names = [o.file.name for o in older if o.file]
            transaction.on_commit(lambda: _storage_delete(names))
    except Exception:
        if saved:
            default_storage.delete(saved)
        raise
    logger.info("data export ready", extra={"user_id": user.pk, "export_id": export_id, "bytes": size})
    return current


def data_export_fail(*, export_id: int, message: str) -> DataExport | None:
    """Give up on an export with a reason the person can read; the row expires like a ready one."""
    with transaction.atomic():
        export = DataExport.objects.select_for_update().filter(pk=export_id).first()
        if export is None or export.status != DataExportStatus.PENDING:
            return export
        now = timezone.now()
        export.status = DataExportStatus.FAILED
        export.error = message[:200]
        export.finished_at = now
        export.expires_at = now + timedelta(days=settings.DATA_EXPORT_DAYS)
        export.save(update_fields=["status", "error", "finished_at", "expires_at"])
    logger.warning("data export failed", extra={"user_id": export.user_id, "export_id": export_id})
    return export


def data_export_cleanup(*, now: Any = None) -> int:
    """Fail exports whose task was lost; delete expired exports' files and rows. Returns rows deleted."""
    now = now or timezone.now()
    stale = DataExport.objects.filter(
        status=DataExportStatus.PENDING, created_at__lt=now - timedelta(seconds=settings.DATA_EXPORT_STALE_S)
    ).values_list("pk", flat=True)
    for export_id in list(stale):
        data_export_fail(export_id=export_id, message="Preparing your data took too long. Please ask again.")
    deleted = 0
    for export_id in list(DataExport.objects.filter(expires_at__lte=now).values_list("pk", flat=True)):
        with transaction.atomic():
            export = DataExport.objects.select_for_update().filter(pk=export_id, expires_at__lte=now).first()
            if export is None:
                continue
            name = export.file.name if export.file else ""
            export.delete()
            transaction.on_commit(lambda n=name: _storage_delete([n] if n else []))
        deleted += 1
    if deleted:
        logger.info("data exports expired", extra={"deleted": deleted})
    return deleted


def _storage_delete(names: Iterable[str]) -> None:
    for name in names:
        default_storage.delete(name)


# --- GDPR: delete my account -----------------------------------------------------------

# Every file of a person is stored under "<kind>/<user id>/" (photos.storage.storage_key, and
# job results); after the named files, these folders are swept for anything else of theirs.
USER_STORAGE_KINDS = ("originals", "photos", "thumbs", "results", "exports")
DELETED_JOB_MESSAGE = "Cancelled because the account was deleted."


class WrongPassword(DomainError):
    code = "wrong_password"
    status = 403


class PlanNotCancelled(DomainError):
    code = "plan_not_cancelled"
    status = 409


def _stripe_call(call: Callable[..., Any], object_id: str, api_key: str) -> None:
    """One Stripe call that is fine to repeat: an object already gone at Stripe counts as done."""
    try:
        call(object_id, api_key=api_key)
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404 and exc.code != "resource_missing":
            raise


def _stripe_forget(*, user: User) -> None:
    """End the paid plan at once and delete the person's customers at Stripe (their email too).

    Stripe cannot take part in our database transaction, so this runs first: if Stripe fails,
    nothing is deleted and the person is asked to try again.
    """
    membership = membership_for_user(user=user)
    subscription_id = membership.stripe_subscription_id if membership else ""
    if not settings.STRIPE_ENABLED:
        if subscription_id:
            raise PlanNotCancelled(
                "Your paid plan can't be cancelled from this server right now. Cancel it first "
                "(Credits → Manage or cancel), or contact support. Nothing was deleted."
            )
        return
    api_key = settings.STRIPE_SECRET_KEY
    customer_ids = list(Customer.objects.filter(subscriber=user).values_list("id", flat=True))
    try:
        if subscription_id:
            _stripe_call(stripe.Subscription.cancel, subscription_id, api_key)
        for customer_id in customer_ids:
            _stripe_call(stripe.Customer.delete, customer_id, api_key)
    except stripe.StripeError as exc:
        logger.warning(
            "account deletion: stripe refused",
            extra={"user_id": user.pk, "subscription": subscription_id, "error": str(exc)[:200]},
        )
        raise PlanNotCancelled(
            "We couldn't reach our payment provider to cancel your plan. Nothing was deleted; "
            "please try again in a few minutes."
        ) from exc


def _user_file_names(user: User) -> list[str]:
    names: list[str] = []
    for photo in Photo.objects.filter(owner=user).prefetch_related("jobs"):
        names += photo_files(photo)
    # Results that outlived all their input photos (bring together) belong to no photo.
    for job in Job.objects.filter(owner=user, photo__isnull=True):
        names += [f.name for f in (job.result, job.result_thumbnail, job.result_poster) if f]
    names += [e.file.name for e in DataExport.objects.filter(user=user) if e.file]
    return names


def _sweep(prefix: str) -> int:
    """Delete every file under a storage folder (local folders or S3 prefixes)."""
    try:
        folders, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    return len(files) + sum(_sweep(f"{prefix}/{folder}") for folder in folders)


def account_files_delete(*, user_id: int, names: Iterable[str] = ()) -> int:
    """Delete a deleted person's files: the ones we know by name, then anything left in their folders."""
    names = list(names)
    _storage_delete(names)
    swept = sum(_sweep(f"{kind}/{user_id}") for kind in USER_STORAGE_KINDS)
    logger.info("account files deleted", extra={"user_id": user_id, "files": len(names), "swept": swept})
    return len(names) + swept


def _account_files_delete_after_commit(user_id: int, names: list[str]) -> None:
    try:
        account_files_delete(user_id=user_id, names=names)
    except Exception:
        # The account is gone already; storage hiccups must not lose the clean-up.
        from accounts.tasks import account_files_delete_task

        logger.exception("account files: deletion failed, retrying in a task", extra={"user_id": user_id})
        account_files_delete_task.apply_async(kwargs={"user_id": user_id}, countdown=60)


def account_delete(*, user: User, password: str = "", confirm_email: str = "") -> None:
    """Delete the account and everything of the person's, once they proved it is them.

    Accounts with a password confirm with it; accounts made through a social login (no
    password) type their email address instead.
    """
    if user.has_usable_password():
        if not password or not user.check_password(password):
            raise WrongPassword("That password isn't right. Nothing was deleted.")
    elif confirm_email.strip().lower() != user.email.lower():
        raise WrongPassword("Type your email address exactly as shown to confirm. Nothing was deleted.")
    account_erase(user=user)


def account_erase(*, user: User, actor: User | None = None) -> None:
    """Erase an account: Stripe first, then the database in one transaction, then the files.

    Called by ``account_delete`` once the person proved who they are, and by staff from the
    admin for an erasure request that reached support (``actor`` is logged).
    """
    if actor is not None and actor.pk == user.pk:
        raise DomainError("Use “Delete my account” on your own account page instead.")
    if actor is not None and user.is_superuser and not actor.is_superuser:
        raise DomainError("Only a superuser may erase a superuser's account.")
    user_id = user.pk
    _stripe_forget(user=user)
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user_id)
        cancelled = job_cancel_open_for_user(user=user, message=DELETED_JOB_MESSAGE)
        # The ledger outlives the account (user set to NULL): the forfeit makes it sum to zero.
        forfeit = credits_forfeit(
            user=user, key=f"account:{user_id}:deleted", reason="Account deleted: remaining credits forfeited"
        )
        names = _user_file_names(user)
        # dj-stripe's local copies (customer, subscriptions, invoices, charges, payment methods,
        # sessions, recorded events) hold the email and billing details; deleted at Stripe already.
        stripe_personal_data_erase(user=user)
        # The admin's history names the account by its email; keep the entries, not the address.
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(User), object_id=str(user_id)
        ).update(object_repr=f"Deleted account {user_id}")
        user.delete()
        transaction.on_commit(lambda: _account_files_delete_after_commit(user_id, names))
    logger.info(
        "account deleted",
        extra={
            "user_id": user_id,
            "by": actor.pk if actor else user_id,
            "jobs_cancelled": cancelled,
            "credits_forfeited": -forfeit.amount if forfeit else 0,
            "files": len(names),
        },
    )
