from django.contrib import admin
from django.urls import include, path

from project.status_api import ServiceStatus

urlpatterns = [
    path("admin/", admin.site.urls),
    # The service as a whole (queues, fleet, requests) spans both apps: wired here, where both may be imported.
    path("api/status", ServiceStatus.as_view(), name="api-status"),
    path("", include("classifier.urls")),
]

# JSON under /api/, pages elsewhere.
handler404 = "classifier.api.errors.not_found"
handler500 = "classifier.api.errors.crashed"
