"""Private media: storage keys, signed expiring URLs, and encryption at rest on S3.

Nothing in storage is public. On S3 a URL is a presigned GET that expires (or, with
``MEDIA_CLOUDFRONT_DOMAIN``, a CloudFront signed URL with the same expiry); with local files
it points at ``media_serve``, which checks a signature (django.core.signing, with a time
stamp) before streaming the one file named inside it. Every object written to S3 asks for
server-side encryption (``AWS_S3_SSE``: SSE-S3, or SSE-KMS with ``AWS_S3_SSE_KMS_KEY_ID``),
whether Django writes it (``photos.s3.PrivateS3Storage``) or the browser does (the presigned
POST's fields and policy, ``sse_post_fields``).
"""

from __future__ import annotations

import mimetypes
import uuid

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from django.views.decorators.http import require_GET

MEDIA_SALT = "rekindle.media"


def storage_key(*, user_id: int, kind: str, ext: str) -> str:
    """A random key per file, grouped by owner: ``<kind>/<user>/<random>.<ext>``."""
    return f"{kind}/{user_id}/{uuid.uuid4().hex}.{ext}"


def direct_upload_enabled() -> bool:
    """Whether pages send photos straight to the bucket (presigned POST) instead of to Django."""
    return settings.USE_S3 and settings.PHOTO_DIRECT_UPLOAD


def sse_parameters() -> dict[str, str]:
    """boto3 parameters that store an object encrypted at rest (empty: SSE switched off)."""
    algorithm = settings.AWS_S3_SSE
    if not algorithm:
        return {}
    params = {"ServerSideEncryption": algorithm}
    if algorithm == "aws:kms" and settings.AWS_S3_SSE_KMS_KEY_ID:
        params["SSEKMSKeyId"] = settings.AWS_S3_SSE_KMS_KEY_ID
    return params


def sse_post_fields() -> dict[str, str]:
    """The same request as form fields of a presigned POST; the policy requires each one."""
    names = {
        "ServerSideEncryption": "x-amz-server-side-encryption",
        "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    }
    return {names[key]: value for key, value in sse_parameters().items()}


def media_url(name: str, *, download_name: str | None = None, max_age: int | None = None) -> str:
    """A URL that shows (or downloads) one private file, valid for ``max_age`` seconds."""
    max_age = max_age or settings.MEDIA_URL_MAX_AGE
    if settings.USE_S3:
        params = (
            {"ResponseContentDisposition": f'attachment; filename="{download_name}"'}
            if download_name
            else None
        )
        return default_storage.url(name, parameters=params, expire=max_age)
    # "e": this URL's own lifetime, for links shorter-lived than the default (share previews).
    payload = {"n": name, "d": download_name or "", "e": min(max_age, settings.MEDIA_URL_MAX_AGE)}
    token = signing.dumps(payload, salt=MEDIA_SALT, compress=True)
    return reverse("media_serve", args=[token])


@require_GET
def media_serve(request: HttpRequest, token: str) -> FileResponse:
    """Stream the file named in a valid, unexpired token; anything else is a plain 404."""
    try:
        data = signing.loads(token, salt=MEDIA_SALT, max_age=settings.MEDIA_URL_MAX_AGE)
        if int(data.get("e") or settings.MEDIA_URL_MAX_AGE) < settings.MEDIA_URL_MAX_AGE:
            signing.loads(token, salt=MEDIA_SALT, max_age=int(data["e"]))
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise Http404("This link is invalid or has expired.") from exc
    name = data.get("n", "")
    if not name or name.startswith("/") or ".." in name.split("/") or not default_storage.exists(name):
        raise Http404("Not found.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    download = data.get("d") or ""
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=content_type,
        as_attachment=bool(download),
        filename=download or None,
    )
    # Private: never kept by shared caches, and only as long as the link lives.
    response["Cache-Control"] = f"private, max-age={min(3600, settings.MEDIA_URL_MAX_AGE)}"
    response["X-Content-Type-Options"] = "nosniff"
    return response
