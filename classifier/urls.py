from django.urls import include, path

from classifier.web import views

app_name = "classifier"

urlpatterns = [
    path("", views.home, name="home"),
    path("upload", views.upload_form, name="upload"),
    path("requests/", views.recent, name="recent"),
    path("requests/<uuid:request_id>/", views.detail, name="detail"),
    path("requests/<uuid:request_id>/image", views.image, name="image"),
    path("requests/<uuid:request_id>/thumbnail", views.thumbnail, name="thumbnail"),
    path("api/", include("classifier.api.urls")),
]
