from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("confirm-email/resend/", views.email_confirm_resend_view, name="email_confirm_resend"),
    path("confirm-email/<str:token>/", views.email_confirm_view, name="email_confirm"),
    path("", views.account, name="account"),
    path("tokens/", views.api_token_create_view, name="api_token_create"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
    path("data-export/", views.data_export, name="data_export"),
    path("data-export/<int:export_id>/download/", views.data_export_download, name="data_export_download"),
    path("delete/", views.account_delete_view, name="delete"),
]
