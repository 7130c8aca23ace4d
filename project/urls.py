from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # People sign in here for the pages when API_AUTH is on (programs send a token instead).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="classifier/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The service itself first: `POST /` is the hot path, and every list it has to fall through costs it a raised
    # Resolver404 behind the status URLs. No path is in both.
    path("", include("classifier.urls")),
    # The service as a whole (queues, fleet, requests): the status page and GET /api/status.
    path("", include("status.urls")),
]

# JSON under /api/, pages elsewhere.
handler400 = "classifier.web.errors.bad_request"
handler404 = "classifier.web.errors.not_found"
handler500 = "classifier.web.errors.crashed"
