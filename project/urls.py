from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("classifier.urls")),
]

# JSON under /api/, pages elsewhere.
handler404 = "classifier.api.errors.not_found"
handler500 = "classifier.api.errors.crashed"
