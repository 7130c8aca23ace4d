from django.urls import path

from status import health, metrics, views

app_name = "status"

urlpatterns = [
    path("status/", views.page, name="page"),
    path("api/status", views.ServiceStatus.as_view(), name="api"),
    # For machines: Prometheus, load balancers, orchestrators. Outside API_AUTH (/metrics has a token of its own).
    path("metrics", metrics.metrics_view, name="metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
