"""Photo pages: the library, new photo (camera, gallery, drop), a photo, re-crop, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from photos.selectors import photo_get_for_user, photo_list_for_user
from photos.services import photo_delete, photo_recrop, photo_upload
from photos.storage import media_url
from rekindle.exceptions import DomainError

LIBRARY_PAGE_SIZE = 24


@login_required
def photo_library(request: HttpRequest) -> HttpResponse:
    page = Paginator(
        photo_list_for_user(user=request.user).prefetch_related("jobs"), LIBRARY_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    items = [
        {
            "photo": p,
            "thumb": media_url(p.thumbnail.name) if p.thumbnail else None,
            "jobs": list(p.jobs.all())[:3],
        }
        for p in page
    ]
    return render(request, "photos/photo_library.html", {"page": page, "items": items})


@login_required
def photo_new(request: HttpRequest) -> HttpResponse:
    """The uploader page. Without JavaScript its plain form posts here."""
    error = None
    if request.method == "POST" and "file" in request.FILES:
        upload = request.FILES["file"]
        try:
            photo = photo_upload(
                user=request.user,
                file=upload,
                size=upload.size,
                name=upload.name,
                quad=request.POST.get("quad"),
                source=request.POST.get("source"),
            )
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("photos:detail", photo_id=photo.pk)
    return render(request, "photos/photo_new.html", {"error": error}, status=400 if error else 200)


@login_required
@vary_on_headers("HX-Request")
def photo_detail(request: HttpRequest, photo_id: int) -> HttpResponse:
    photo = photo_get_for_user(user=request.user, photo_id=photo_id)
    context = {
        "photo": photo,
        "image_url": media_url(photo.image.name) if photo.image else None,
        "jobs": photo.jobs.all() if hasattr(photo, "jobs") else [],
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
