"""Admin for photos (read-only; deleting goes through the service so files go too) and hand-offs."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from credits.admin import ReadOnlyAdmin
from photos.models import HandoffSession, Photo
from photos.services import photo_delete
from photos.storage import media_url


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "preview",
        "owner",
        "status",
        "source",
        "source_format",
        "width",
        "height",
        "created_at",
    ]
    list_filter = ["status", "source", "source_format", "is_grayscale", "quad_source", "created_at"]
    search_fields = ["=id", "owner__email", "original_name", "content_hash"]
    list_select_related = ["owner"]
    readonly_fields = [f.name for f in Photo._meta.fields] + ["preview"]
    date_hierarchy = "created_at"

    @admin.display(description="Preview")
    def preview(self, photo: Photo) -> str:
        if not photo.thumbnail:
            return "—"
        return format_html('<img src="{}" alt="" style="max-height:80px">', media_url(photo.thumbnail.name))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_deleted_objects(self, objs, request):  # type: ignore[no-untyped-def]
        # A photo's jobs and share links go with it (they are read-only on their own pages).
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    # Deleting from the admin must not leave files behind: the service removes them after commit.
    def delete_model(self, request: HttpRequest, obj: Photo) -> None:
        photo_delete(user=obj.owner, photo_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Photo]) -> None:
        for photo in queryset.select_related("owner"):
            photo_delete(user=photo.owner, photo_id=photo.pk)


@admin.register(HandoffSession)
class HandoffSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "created_at", "expires_at", "claimed_at"]
    list_filter = ["created_at", "claimed_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ["user", "created_at", "expires_at", "claimed_at"]  # the token hash stays out of sight
