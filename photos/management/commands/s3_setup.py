"""``python manage.py s3_setup``: prepare the media bucket for the site (safe to run again).

Sets the CORS rule browsers need to send photos straight to the bucket (presigned POST from
``AWS_S3_CORS_ORIGINS``, default ``SITE_URL``; POST, PUT, GET; ETag exposed) and the bucket's
default encryption (``AWS_S3_SSE``), where the store supports it. Run it once per bucket and
again whenever the site's origin changes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from photos.s3 import s3_bucket_setup


class Command(BaseCommand):
    help = "Set the media bucket's CORS rule and default encryption (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.USE_S3:
            raise CommandError("S3 is not configured: set AWS_STORAGE_BUCKET_NAME (and AWS_* keys) first.")
        for line in s3_bucket_setup():
            self.stdout.write(line)
