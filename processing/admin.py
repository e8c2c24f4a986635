"""Admin for jobs, spend limits, share links and moderation.

Nothing here edits state directly: jobs, share links and reports are read-only, and every change
(re-run, refund, revoke, dismiss, remove content, suspend) goes through a service that records
who did it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from credits.admin import ReadOnlyAdmin
from photos.storage import media_url
from processing.models import Job, JobInput, ModerationAction, Report, ReportStatus, ShareLink, SpendLimit
from processing.moderation import moderation_preview, report_dismiss, report_remove_content, user_suspend
from processing.services import job_refund, job_rerun, job_resume_waiting, pause_reason
from rekindle.admin_tools import run_each
from rekindle.exceptions import DomainError


def _thumbnail(name: str, height: int = 60) -> str:
    return format_html('<img src="{}" alt="" style="max-height:{}px">', media_url(name), height)


def _user_link(user_id: int | None, label: object) -> str:
    if user_id is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse("admin:accounts_user_change", args=[user_id]), label)


def _inputs_html(job: Job) -> str:
    """A job's input pictures in order, each with its position."""

    def thumb(row: JobInput) -> str:
        source = row.source_job
        if source is not None and source.result_thumbnail:
            return _thumbnail(source.result_thumbnail.name, 120)
        return _thumbnail(row.photo.thumbnail.name, 120) if row.photo.thumbnail else "—"

    return format_html_join(
        " ",
        '<figure data-job-input style="display:inline-block;margin:0 .5em 0 0">{}<figcaption>Picture {}'
        "</figcaption></figure>",
        ((thumb(row), row.position) for row in job.input_list()),
    )


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "result_preview", "owner", "kind", "status", "tier", "engine", "credits_charged",
                    "gpu_seconds", "cost", "queued_at", "finished_at"]  # fmt: skip
    list_filter = ["status", "kind", "tier", "engine", "error_code", "queued_at"]
    search_fields = ["=id", "owner__email", "external_id", "error_code"]
    list_select_related = ["owner"]
    date_hierarchy = "queued_at"
    readonly_fields = [f.name for f in Job._meta.fields] + ["result_preview", "inputs_preview"]
    actions = ["rerun", "refund"]

    @admin.display(description="Result")
    def result_preview(self, job: Job) -> str:
        return _thumbnail(job.result_thumbnail.name) if job.result_thumbnail else "—"

    @admin.display(description="Inputs")
    def inputs_preview(self, job: Job) -> str:
        return _inputs_html(job) if job.spec.takes_several else "—"

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("processing.view_job") and request.user.is_staff

    def has_refund_permission(self, request: HttpRequest) -> bool:
        # A refund writes a ledger row, like the credits adjustment.
        return request.user.has_perm("credits.add_credittransaction")

    @admin.action(description="Re-run at our cost (a new job, no charge)", permissions=["rerun"])
    def rerun(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        def act(job: Job) -> str:
            new = job_rerun(job_id=job.pk, actor=request.user)
            self.log_addition(request, new, f"Re-run of job {job.pk}")
            return f"Job {job.pk}: re-run as job {new.pk}."

        run_each(self, request, queryset, act)

    @admin.action(description="Refund the credits (once per job)", permissions=["refund"])
    def refund(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        def act(job: Job) -> str:
            row = job_refund(job_id=job.pk, actor=request.user)
            return f"Job {job.pk}: refunded {row.amount} credit(s) to {job.owner}."

        run_each(self, request, queryset.select_related("owner"), act)


@admin.register(SpendLimit)
class SpendLimitAdmin(admin.ModelAdmin):
    list_display = ["tier_group", "daily_limit", "paused_manually", "updated_at"]
    list_editable = ["daily_limit", "paused_manually"]
    readonly_fields = ["alerted_80_on", "alerted_100_on"]

    def save_model(self, request: HttpRequest, obj: SpendLimit, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if pause_reason(obj.tier_group) is None:
            job_resume_waiting(group=obj.tier_group)  # a raised limit or a resume lets waiting work go


class ShareStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("live", "Live"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> QuerySet[ShareLink]:
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyAdmin):
    list_display = ["id", "preview", "job", "owner", "state", "created_at", "expires_at", "reports"]
    list_filter = [ShareStateFilter, "created_at"]
    search_fields = ["=job__id", "job__owner__email"]
    list_select_related = ["job", "job__owner"]
    # The token is the secret that opens the page: staff see its start, never the whole.
    fields = ["job", "owner", "token_start", "state", "created_at", "expires_at", "revoked_at", "preview"]
    readonly_fields = fields
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ShareLink]:
        return super().get_queryset(request).annotate(report_count=Count("reports"))

    @admin.display(description="Result")
    def preview(self, link: ShareLink) -> str:
        return _thumbnail(link.job.result_thumbnail.name) if link.job.result_thumbnail else "—"

    @admin.display(description="Owner")
    def owner(self, link: ShareLink) -> str:
        return _user_link(link.job.owner_id, link.job.owner)

    @admin.display(description="Token")
    def token_start(self, link: ShareLink) -> str:
        return f"{link.token[:6]}…"

    @admin.display(description="State")
    def state(self, link: ShareLink) -> str:
        if link.revoked_at:
            return "Revoked"
        return "Expired" if link.expires_at <= timezone.now() else "Live"

    @admin.display(description="Reports", ordering="report_count")
    def reports(self, link: ShareLink) -> int:
        return link.report_count

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff

    @admin.action(description="Revoke (the link stops working at once)", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        live = list(queryset.filter(revoked_at__isnull=True))
        ShareLink.objects.filter(pk__in=[link.pk for link in live]).update(revoked_at=timezone.now())
        for link in live:  # the admin's history keeps who revoked which link, and when
            self.log_change(request, link, "Revoked from the admin")
        self.message_user(request, f"Revoked {len(live)} share link(s).")


class OwnerFilter(admin.SimpleListFilter):
    """Lets the "other reports" link filter the queue to one owner."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        owner = request.GET.get(self.parameter_name)
        return [(owner, f"User {owner}")] if owner else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Report]) -> QuerySet[Report]:
        return queryset.filter(owner_id=self.value()) if self.value() else queryset


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    """The moderation queue: open reports first, newest first within each status."""

    list_display = [
        "id", "preview", "status", "source", "reason", "short_note", "owner_link", "other_reports",
        "reporter", "created_at", "handled_by", "handled_at",
    ]  # fmt: skip
    list_display_links = ["id", "preview"]
    list_filter = ["status", "source", "reason", "created_at", OwnerFilter]
    search_fields = ["=id", "owner__email", "reporter__email", "note"]
    list_select_related = ["owner", "reporter", "handled_by", "photo", "job"]
    fields = [
        "large_preview", "job_inputs", "status", "source", "reason", "note", "owner_link", "reporter",
        "share_link", "job", "photo", "created_at", "handled_by", "handled_at", "owner_other_reports",
        "history",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["dismiss", "remove_content", "suspend_owner"]
    change_form_template = "admin/processing/report/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        other = Count("owner__reports_against", distinct=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_first=Case(
                    When(status=ReportStatus.OPEN, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                ),
                owner_report_count=other,
            )
            .order_by("open_first", "-created_at")
        )

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_staff and super().has_view_permission(request, obj)

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        # Dismissing or removing content changes the report: viewing the queue is not enough.
        return request.user.is_staff and request.user.has_perm("processing.change_report")

    def has_suspend_permission(self, request: HttpRequest) -> bool:
        # Suspending also changes the owner's account, as on the People list.
        return self.has_moderate_permission(request) and request.user.has_perm("accounts.change_user")

    # --- columns ------------------------------------------------------------------

    def _content_thumbnail(self, report: Report, height: int) -> str:
        photo = report.photo
        if report.job_id and report.job.result_thumbnail:
            return _thumbnail(report.job.result_thumbnail.name, height)
        if photo is not None and photo.thumbnail:
            return _thumbnail(photo.thumbnail.name, height)
        return "Removed" if report.status == ReportStatus.REMOVED else "—"

    @admin.display(description="Content")
    def preview(self, report: Report) -> str:
        return self._content_thumbnail(report, 60)

    @admin.display(description="Content")
    def large_preview(self, report: Report) -> str:
        return self._content_thumbnail(report, 320)

    @admin.display(description="Made from")
    def job_inputs(self, report: Report) -> str:
        """Every input picture of a reported result made from several (bring together)."""
        job = report.job
        return _inputs_html(job) if job is not None and job.spec.takes_several else "—"

    @admin.display(description="Note")
    def short_note(self, report: Report) -> str:
        return report.note if len(report.note) <= 60 else f"{report.note[:59]}…"

    @admin.display(description="Owner", ordering="owner__email")
    def owner_link(self, report: Report) -> str:
        return _user_link(report.owner_id, report.owner)

    @admin.display(description="Owner's reports", ordering="owner_report_count")
    def other_reports(self, report: Report) -> str:
        if report.owner_id is None:
            return "—"
        url = f"{reverse('admin:processing_report_changelist')}?owner={report.owner_id}"
        return format_html('<a href="{}">{} in all</a>', url, report.owner_report_count)

    @admin.display(description="The owner's other reports")
    def owner_other_reports(self, report: Report) -> str:
        if report.owner_id is None:
            return "—"
        others = Report.objects.filter(owner_id=report.owner_id).exclude(pk=report.pk).order_by("-created_at")
        if not others:
            return "None"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">Report {}</a>: {} — {} ({})</li>',
                (
                    (
                        reverse("admin:processing_report_change", args=[o.pk]),
                        o.pk,
                        o.get_reason_display(),
                        o.get_status_display(),
                        f"{o.created_at:%Y-%m-%d}",
                    )
                    for o in others[:20]
                ),
            ),
        )

    @admin.display(description="What was done")
    def history(self, report: Report) -> str:
        actions = report.actions.select_related("actor").order_by("created_at")
        if not actions:
            return "Nothing yet"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {} by {} {}</li>",
                (
                    (f"{a.created_at:%Y-%m-%d %H:%M}", a.get_kind_display(), a.actor, a.detail)
                    for a in actions
                ),
            ),
        )

    # --- actions (list) -----------------------------------------------------------------

    @admin.action(description="Dismiss (nothing wrong)", permissions=["moderate"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        run_each(self, request, queryset, lambda r: self._dismiss(request, r))

    @admin.action(
        description="Remove the content (share links stop, files deleted)", permissions=["moderate"]
    )
    def remove_content(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        run_each(self, request, queryset, lambda r: self._remove(request, r))

    @admin.action(description="Suspend the owner (no sign-in, open jobs refunded)", permissions=["suspend"])
    def suspend_owner(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        run_each(self, request, queryset.select_related("owner"), lambda r: self._suspend(request, r))

    def _dismiss(self, request: HttpRequest, report: Report) -> str:
        report_dismiss(report_id=report.pk, actor=request.user)
        return f"Report {report.pk}: dismissed."

    def _remove(self, request: HttpRequest, report: Report) -> str:
        report_remove_content(report_id=report.pk, actor=request.user)
        return f"Report {report.pk}: content removed."

    def _suspend(self, request: HttpRequest, report: Report) -> str:
        if report.owner is None:
            raise DomainError("The owner's account no longer exists.")
        cancelled = user_suspend(
            user=report.owner, actor=request.user, reason=f"Report {report.pk}", report_id=report.pk
        )
        return (
            f"Report {report.pk}: {report.owner} suspended, {cancelled} open job(s) cancelled and refunded."
        )

    # --- buttons on the report page ---------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def button(
            name: str,
            act: Callable[[HttpRequest, Report], str],
            confirm: bool,
            allowed: Callable[[HttpRequest], bool],
        ) -> URLPattern:
            def view(request: HttpRequest, report_id: int) -> HttpResponse:
                if not allowed(request):
                    raise PermissionDenied
                report = get_object_or_404(Report.objects.select_related("owner"), pk=report_id)
                if request.method == "GET" and confirm:
                    # What cannot be undone is shown, with its consequences, before it is done.
                    context = {
                        **self.admin_site.each_context(request),
                        "opts": self.model._meta,
                        "report": report,
                        "step": name,
                        "title": "Remove the content?" if name == "remove" else "Suspend the owner?",
                        "preview": moderation_preview(report=report),
                    }
                    return TemplateResponse(request, "admin/processing/report/confirm.html", context)
                if request.method != "POST":
                    return HttpResponseNotAllowed(["POST"])
                run_each(self, request, [report], lambda r: act(request, r))
                return HttpResponseRedirect(reverse("admin:processing_report_change", args=[report_id]))

            return path(
                f"<int:report_id>/{name}/", self.admin_site.admin_view(view), name=f"processing_report_{name}"
            )

        return [
            button("dismiss", self._dismiss, confirm=False, allowed=self.has_moderate_permission),
            button("remove", self._remove, confirm=True, allowed=self.has_moderate_permission),
            button("suspend", self._suspend, confirm=True, allowed=self.has_suspend_permission),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        report = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "is_open": report is not None and report.status == ReportStatus.OPEN,
            "may_moderate": self.has_moderate_permission(request),
            "may_suspend": self.has_suspend_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "title": f"Moderation queue — {Report.objects.filter(status=ReportStatus.OPEN).count()} open",
        }
        return super().changelist_view(request, extra_context)


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "actor", "subject_link", "report", "detail"]
    list_filter = ["kind", "created_at", ("actor", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["subject__email", "actor__email", "detail"]
    list_select_related = ["actor", "subject", "report"]
    date_hierarchy = "created_at"

    @admin.display(description="Account")
    def subject_link(self, action: ModerationAction) -> str:
        return _user_link(action.subject_id, action.subject)
