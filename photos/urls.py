from django.urls import path

from photos import views
from processing.views import photo_report_view

app_name = "photos"

urlpatterns = [
    path("", views.photo_library, name="library"),
    path("new/", views.photo_new, name="new"),
    path("handoff/", views.handoff_start_view, name="handoff"),
    path("handoff/<int:handoff_id>/arrivals/", views.handoff_arrivals_view, name="handoff_arrivals"),
    path("<int:photo_id>/", views.photo_detail, name="detail"),
    path("<int:photo_id>/crop/", views.photo_crop, name="crop"),
    path("<int:photo_id>/delete/", views.photo_delete_view, name="delete"),
    path("<int:photo_id>/report/", photo_report_view, name="report"),
]
