from django.urls import path

from status import views

app_name = "status"

urlpatterns = [
    path("status/", views.page, name="page"),
    path("api/status", views.ServiceStatus.as_view(), name="api"),
]
