from django.contrib import admin
from django.utils.html import format_html

from photos.models import Photo
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
    list_filter = ["status", "source", "source_format", "is_grayscale", "quad_source"]
    search_fields = ["owner__email", "original_name", "content_hash"]
    list_select_related = ["owner"]
    readonly_fields = [f.name for f in Photo._meta.fields] + ["preview"]
    date_hierarchy = "created_at"

    @admin.display(description="Preview")
    def preview(self, photo: Photo) -> str:
        if not photo.thumbnail:
            return "—"
        return format_html('<img src="{}" alt="" style="max-height:80px">', media_url(photo.thumbnail.name))

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
