from django.conf import settings
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from classifier.api import views
from classifier.api.asynchronous import bounded_intake, long_poll

# The schema and its docs are public even with API_AUTH on: they describe the API, they give no access to it.
_public = {"permission_classes": [AllowAny], "authentication_classes": []}

urlpatterns = [
    path("classifications", bounded_intake(views.ClassificationList.as_view()), name="api-list"),
    path(
        "classifications/<uuid:request_id>",
        long_poll(
            views.ClassificationDetail.as_view(), views.wait_seconds, poll_seconds=lambda: settings.RESULT_POLL_SECONDS
        ),
        name="api-detail",
    ),
    path("schema/", SpectacularAPIView.as_view(**_public), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="classifier:api-schema", **_public), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="classifier:api-schema", **_public), name="api-redoc"),
]
