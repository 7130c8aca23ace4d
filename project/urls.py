from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from project.status_api import ServiceStatus

urlpatterns = [
    path("admin/", admin.site.urls),
    # People sign in here for the pages when API_AUTH is on (programs send a token instead).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="classifier/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The service as a whole (queues, fleet, requests) spans both apps: wired here, where both may be imported.
    path("api/status", ServiceStatus.as_view(), name="api-status"),
    path("", include("classifier.urls")),
]

# JSON under /api/, pages elsewhere.
handler400 = "classifier.api.errors.bad_request"
handler404 = "classifier.api.errors.not_found"
handler500 = "classifier.api.errors.crashed"
