"""Admin for jobs (read-only: state changes go through services) and daily spend limits."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from photos.storage import media_url
from processing.models import Job, SpendLimit
from processing.services import job_resume_waiting, pause_reason


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "result_preview", "owner", "kind", "status", "tier", "engine", "credits_charged",
                    "gpu_seconds", "cost", "queued_at", "finished_at"]  # fmt: skip
    list_filter = ["status", "kind", "tier", "engine", "queued_at"]
    search_fields = ["owner__email", "external_id", "error_code"]
    list_select_related = ["owner"]
    date_hierarchy = "queued_at"
    readonly_fields = [f.name for f in Job._meta.fields] + ["result_preview"]

    @admin.display(description="Result")
    def result_preview(self, job: Job) -> str:
        if not job.result_thumbnail:
            return "—"
        return format_html(
            '<img src="{}" alt="" style="max-height:60px">', media_url(job.result_thumbnail.name)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SpendLimit)
class SpendLimitAdmin(admin.ModelAdmin):
    list_display = ["tier_group", "daily_limit", "paused_manually", "updated_at"]
    list_editable = ["daily_limit", "paused_manually"]
    readonly_fields = ["alerted_80_on", "alerted_100_on"]

    def save_model(self, request: HttpRequest, obj: SpendLimit, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if pause_reason(obj.tier_group) is None:
            job_resume_waiting(group=obj.tier_group)  # a raised limit or a resume lets waiting work go
