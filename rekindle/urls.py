"""Top-level URLs. Each app owns its own prefix; the JSON API lives under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

from credits.views import business_metrics
from photos.storage import media_serve
from photos.views import handoff_claim_view
from processing.views import cost_review, share_preview, share_public, share_video
from rekindle import health, pwa, views
from rekindle.api import api

admin.site.site_header = "Rekindle administration"
admin.site.site_title = "Rekindle admin"
admin.site.index_title = "Operations, moderation and data"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("offline/", pwa.offline, name="offline"),
    path("accounts/", include("accounts.urls")),
    path("photos/", include("photos.urls")),
    path("credits/", include("credits.urls")),
    # dj-stripe's signature-checked webhook endpoint: /stripe/webhook/<endpoint uuid>/
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("jobs/", include("processing.urls")),
    path("s/<str:token>/", share_public, name="share"),
    path("s/<str:token>/preview.jpg", share_preview, name="share_preview"),
    path("s/<str:token>/video.mp4", share_video, name="share_video"),
    path("h/<str:token>/", handoff_claim_view, name="handoff_claim"),
    path("media/s/<str:token>/", media_serve, name="media_serve"),
    path("auth/", include("social_django.urls", namespace="social")),
    path("api/v1/", api.urls),
    # Staff-only pages linked from the admin index (templates/admin/index.html).
    path("staff/costs/", cost_review, name="staff_costs"),
    path("staff/metrics/", business_metrics, name="staff_metrics"),
    path("admin/", admin.site.urls),
]
