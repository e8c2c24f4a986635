"""Photos: what a person uploaded, and the processing-ready image made from it.

The original upload is kept only until preprocessing has made the processing-ready image
and its thumbnail (both re-encoded, metadata stripped); then it is deleted.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class PhotoStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    PREPROCESSING = "preprocessing", "Preparing"
    READY = "ready", "Ready"
    REJECTED = "rejected", "Rejected"


class PhotoSource(models.TextChoices):
    CAMERA = "camera", "Camera"
    GALLERY = "gallery", "Gallery"
    DROP = "drop", "Drag and drop"
    HANDOFF = "handoff", "Phone hand-off"


class QuadSource(models.TextChoices):
    NONE = "", "None"
    PERSON = "person", "Set by the person"
    AUTO = "auto", "Detected automatically"


class Photo(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="photos")
    # Random, for storage keys: ids are guessable, file names must not be.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=PhotoStatus.choices, default=PhotoStatus.UPLOADED)
    source = models.CharField(max_length=16, choices=PhotoSource.choices, default=PhotoSource.GALLERY)
    original_name = models.CharField(max_length=255, blank=True)

    # The upload as received; deleted once preprocessing is done (or has failed).
    original = models.FileField(max_length=255, blank=True)
    # Set once the upload is known to be complete (direct upload, or S3 `complete`).
    upload_completed = models.BooleanField(default=False)

    image = models.FileField("processing-ready image", max_length=255, blank=True)
    thumbnail = models.FileField(max_length=255, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    source_format = models.CharField(max_length=8, blank=True)
    bytes = models.PositiveBigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)
    is_grayscale = models.BooleanField(default=False)

    # The person's corners (or the detected ones), normalized on the upright image.
    quad = models.JSONField(null=True, blank=True)
    quad_source = models.CharField(max_length=8, choices=QuadSource.choices, blank=True)
    quad_confidence = models.FloatField(default=0.0)

    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"Photo {self.pk} ({self.status})"

    @property
    def is_ready(self) -> bool:
        return self.status == PhotoStatus.READY


class HandoffSession(models.Model):
    """A desktop's QR code: lets one phone upload into its owner's library for ten minutes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="handoffs")
    # Only a hash of the link's token is kept: a database leak does not open anyone's library.
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, help_text="Hash of the phone's session key.")

    def __str__(self) -> str:
        return f"Hand-off for {self.user_id} until {self.expires_at:%H:%M}"
