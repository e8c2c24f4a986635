from django.urls import path

from credits import views

app_name = "credits"

urlpatterns = [
    path("", views.credits_page, name="page"),
    path("buy/<str:pack>/", views.topup_checkout, name="topup_checkout"),
    path("plan/<str:plan>/<str:interval>/", views.plan_checkout, name="plan_checkout"),
    path("manage/", views.manage, name="manage"),
    path("thanks/", views.thanks, name="thanks"),
]
