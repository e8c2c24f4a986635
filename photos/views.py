"""Photo pages: the library, new photo (camera, gallery, drop), a photo, re-crop, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from photos.handoff import SESSION_KEY, handoff_arrivals, handoff_claim, handoff_qr_svg, handoff_start
from photos.selectors import photo_get_for_user, photo_list_for_user, upload_owner_tag
from photos.services import photo_delete, photo_recrop, photo_upload
from photos.storage import direct_upload_enabled, media_url
from photos.throttling import RATE_LIMITED_MESSAGE, UploadThrottle
from processing.models import PERSON_REASONS
from rekindle.exceptions import DomainError, NotFound

LIBRARY_PAGE_SIZE = 24
# Results shown on a photo's library card; the card links to the photo's page for all of them.
LIBRARY_RESULTS_PER_PHOTO = 3


def _result_items(jobs: list) -> list[dict]:
    """Each job with its own result thumbnail (None until it has one; a video's is its poster)
    and whether the result is a video (the library badges it)."""
    return [
        {
            "job": job,
            "thumb": media_url(job.result_thumbnail.name) if job.result_thumbnail else None,
            "video": job.is_video,
        }
        for job in jobs
    ]


@login_required
def photo_library(request: HttpRequest) -> HttpResponse:
    page = Paginator(
        photo_list_for_user(user=request.user).prefetch_related("jobs"), LIBRARY_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    items = []
    for p in page:
        jobs = list(p.jobs.all())
        items.append(
            {
                "photo": p,
                "thumb": media_url(p.thumbnail.name) if p.thumbnail else None,
                "results": _result_items(jobs[:LIBRARY_RESULTS_PER_PHOTO]),
                "more_results": len(jobs) - LIBRARY_RESULTS_PER_PHOTO,
                "result_count": len(jobs),
            }
        )
    return render(request, "photos/photo_library.html", {"page": page, "items": items})


@login_required
def photo_new(request: HttpRequest) -> HttpResponse:
    """The uploader page. Without JavaScript its plain form posts here."""
    error, status = None, 200
    if request.method == "POST" and not UploadThrottle().allow_request(request):
        error, status = RATE_LIMITED_MESSAGE, 429
    elif request.method == "POST" and "file" in request.FILES:
        upload = request.FILES["file"]
        try:
            photo = photo_upload(
                user=request.user,
                file=upload,
                size=upload.size,
                name=upload.name,
                quad=request.POST.get("quad"),
                source=request.POST.get("source"),
                queued_for=request.POST.get("queued_for"),
            )
        except DomainError as exc:
            error, status = exc.message, exc.status
        else:
            return redirect("photos:detail", photo_id=photo.pk)
    elif request.method == "POST":
        error, status = "Choose a photo to upload.", 400
    context = {
        "error": error,
        "queue_owner": upload_owner_tag(user_id=request.user.pk),
        "direct_upload": direct_upload_enabled(),
    }
    return render(request, "photos/photo_new.html", context, status=status)


@login_required
@vary_on_headers("HX-Request")
def photo_detail(request: HttpRequest, photo_id: int) -> HttpResponse:
    photo = photo_get_for_user(user=request.user, photo_id=photo_id)
    context = {
        "photo": photo,
        "image_url": media_url(photo.image.name) if photo.image else None,
        "results": _result_items(list(photo.jobs.all())),
        "report_reasons": PERSON_REASONS,
    }
    if request.htmx:
        response = render(request, "photos/photo_detail.html#photo-status", context)
        if photo.status in ("ready", "rejected"):
            response.status_code = 286  # htmx: stop polling
        return response
    return render(request, "photos/photo_detail.html", context)


@login_required
def photo_crop(request: HttpRequest, photo_id: int) -> HttpResponse:
    photo = photo_get_for_user(user=request.user, photo_id=photo_id)
    if request.method == "POST":
        try:
            photo_recrop(user=request.user, photo_id=photo.pk, quad=request.POST.get("quad"))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The photo was straightened.")
            return redirect("photos:detail", photo_id=photo.pk)
    return render(
        request,
        "photos/photo_crop.html",
        {"photo": photo, "image_url": media_url(photo.image.name) if photo.image else None},
    )


@login_required
@require_POST
def photo_delete_view(request: HttpRequest, photo_id: int) -> HttpResponse:
    photo_delete(user=request.user, photo_id=photo_id)
    messages.success(request, "The photo and its results were deleted.")
    return redirect("photos:library")


@login_required
def handoff_start_view(request: HttpRequest) -> HttpResponse:
    """Desktop: a fresh QR code for the phone, and the photos arriving through it."""
    handoff, token = handoff_start(user=request.user)
    url = request.build_absolute_uri(reverse("handoff_claim", args=[token]))
    return render(
        request,
        "photos/handoff_desktop.html",
        {"handoff": handoff, "url": url, "qr_svg": handoff_qr_svg(url), "photos": []},
    )


@login_required
def handoff_arrivals_view(request: HttpRequest, handoff_id: int) -> HttpResponse:
    handoff, photos = handoff_arrivals(user=request.user, handoff_id=handoff_id)
    items = [{"photo": p, "thumb": media_url(p.thumbnail.name) if p.thumbnail else None} for p in photos]
    response = render(
        request, "photos/handoff_desktop.html#handoff-arrivals", {"handoff": handoff, "items": items}
    )
    if handoff.expires_at <= timezone.now():
        response.status_code = 286  # htmx: stop polling, the link is dead
    return response


def handoff_claim_view(request: HttpRequest, token: str) -> HttpResponse:
    """Phone: open the QR link; the first phone gets an upload page, others a plain reason."""
    if not request.session.session_key:
        request.session.save()
    try:
        handoff = handoff_claim(token=token, session_key=request.session.session_key)
    except DomainError as exc:
        status = 404 if isinstance(exc, NotFound) else exc.status
        return render(request, "photos/handoff_gone.html", {"message": exc.message}, status=status)
    request.session[SESSION_KEY] = handoff.pk
    # Photos this phone queues offline belong to the desktop's library, whoever signs in here later.
    context = {
        "handoff": handoff,
        "owner": handoff.user,
        "queue_owner": upload_owner_tag(user_id=handoff.user_id),
        "direct_upload": direct_upload_enabled(),
    }
    return render(request, "photos/handoff_phone.html", context)
