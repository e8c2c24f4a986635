from django.urls import path

from processing import views

app_name = "processing"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/<int:photo_id>/", views.job_new, name="new"),
    path("together/", views.together_new, name="together"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/cancel/", views.job_cancel_view, name="cancel"),
    path("<int:job_id>/animate/", views.job_animate, name="animate"),
    path("<int:job_id>/share/", views.share_create_view, name="share_create"),
    path("shares/<int:share_id>/revoke/", views.share_revoke_view, name="share_revoke"),
]
