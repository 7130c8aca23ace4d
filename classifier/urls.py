from django.urls import path

from classifier import api, views

app_name = "classifier"

urlpatterns = [
    path("", views.home, name="home"),
    path("upload", views.upload_form, name="upload"),
    path("requests/<uuid:request_id>/", views.detail, name="detail"),
    path("requests/<uuid:request_id>/image", views.image, name="image"),
    path("api/classifications", api.submit, name="api-submit"),
    path("api/classifications/<uuid:request_id>", api.detail, name="api-detail"),
]
