"""The pages for people: home, request list, thumbnails, CSRF on the form, static files from the app."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image

from classifier import storage
from classifier.models import Classification, Status
from tests.conftest import IMAGES_DIR
from tests.factories import make_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_image(settings, tmp_path) -> Classification:
    settings.STORAGES = {
        **settings.STORAGES,
        "inputs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 800), "red").save(buffer, format="JPEG")
    key = storage.inputs().save("r/big.jpg", ContentFile(buffer.getvalue()))
    return make_request(original_name="big.jpg", input_key=key, content_type="image/jpeg")


def test_thumbnail_is_a_small_jpeg(client: Client, stored_image: Classification) -> None:
    response = client.get(f"/requests/{stored_image.pk}/thumbnail")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "max-age=86400" in response["Cache-Control"]
    with Image.open(io.BytesIO(response.content)) as thumbnail:
        assert thumbnail.size == (160, 107)


def test_missing_image_is_404(client: Client, stored_image: Classification) -> None:
    storage.inputs().delete(stored_image.input_key)
    assert client.get(f"/requests/{stored_image.pk}/thumbnail").status_code == 404
    assert client.get(f"/requests/{stored_image.pk}/image").status_code == 404


def test_request_list_filters_and_pages(client: Client) -> None:
    for index in range(55):
        make_request(original_name=f"q{index}.jpg", input_key="k", status=Status.QUEUED)
    make_request(original_name="cat.jpg", input_key="k", status=Status.DONE, label="tabby")
    first = client.get("/requests/").content.decode()
    assert "page 1 of 2" in first and "56 requests" in first and "Older" in first
    done = client.get("/requests/?status=done").content.decode()
    assert "cat.jpg" in done and "tabby" in done and "q1.jpg" not in done
    assert client.get("/requests/?page=99").status_code == 200  # past the end: the last page


def test_home_page_has_the_uploader_and_no_outside_assets(client: Client) -> None:
    html = client.get("/").content.decode()
    assert 'id="files"' in html and "multiple" in html and "csrfmiddlewaretoken" in html
    assert "/static/classifier/upload.js" in html and "/static/classifier/site.css" in html
    assert "http://" not in html.replace("http://testserver", "") and "https://" not in html
    for asset in ("/static/classifier/upload.js", "/static/classifier/site.css"):
        response = client.get(asset)
        assert response.status_code == 200, asset  # served by the app itself (WhiteNoise), no separate web server


def test_the_form_needs_its_csrf_token() -> None:
    strict = Client(enforce_csrf_checks=True)
    with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:
        assert strict.post("/upload", {"image": handle}).status_code == 403
    assert not Classification.objects.exists()


def test_pages_and_images_need_a_login_with_auth_on(client: Client, stored_image: Classification, settings) -> None:
    settings.API_AUTH = True
    for url in ("/", "/requests/", f"/requests/{stored_image.pk}/", f"/requests/{stored_image.pk}/image",
                f"/requests/{stored_image.pk}/thumbnail", "/status/"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next="), url
    assert client.post("/upload").status_code in (302, 403)


def test_a_person_without_staff_rights_signs_in_uses_the_pages_and_signs_out(settings) -> None:
    from django.contrib.auth.models import User

    settings.API_AUTH = True
    User.objects.create_user("alice", password="correct horse")
    browser = Client(enforce_csrf_checks=True)
    to_login = browser.get("/status/")
    assert to_login["Location"] == "/accounts/login/?next=/status/"

    form = browser.get(to_login["Location"])
    assert form.status_code == 200 and 'name="next" value="/status/"' in form.content.decode()
    csrf = form.cookies["csrftoken"].value
    wrong = browser.post("/accounts/login/", {"username": "alice", "password": "nope", "csrfmiddlewaretoken": csrf})
    assert wrong.status_code == 200 and "do not match" in wrong.content.decode()
    signed_in = browser.post(
        "/accounts/login/",
        {"username": "alice", "password": "correct horse", "next": "/status/", "csrfmiddlewaretoken": csrf},
    )
    assert (signed_in.status_code, signed_in["Location"]) == (302, "/status/")
    home = browser.get("/")
    assert home.status_code == 200 and "alice" in home.content.decode() and "Sign out" in home.content.decode()
    assert browser.get("/admin/")["Location"].startswith("/admin/login/")  # the admin still wants staff

    csrf = browser.cookies["csrftoken"].value
    assert browser.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf})["Location"] == "/accounts/login/"
    assert browser.get("/")["Location"] == "/accounts/login/?next=/"


def test_sign_in_does_not_redirect_off_site(settings) -> None:
    from django.contrib.auth.models import User

    settings.API_AUTH = True
    User.objects.create_user("alice", password="correct horse")
    response = Client().post(
        "/accounts/login/", {"username": "alice", "password": "correct horse", "next": "https://evil.example/"}
    )
    assert (response.status_code, response["Location"]) == (302, "/")


def test_an_unknown_status_is_not_echoed_into_links(client: Client) -> None:
    Classification.objects.bulk_create([Classification(original_name=f"q{i}.jpg", input_key="k") for i in range(60)])
    html = client.get('/requests/?status="><script>x</script>').content.decode()
    assert "<script>x" not in html and "?status=&amp;page=2" in html
