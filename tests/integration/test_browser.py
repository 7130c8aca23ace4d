"""The pages in a real browser: Debian's chromium, driven by Playwright, against the real stack and model."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from classifier.models import Classification, Status
from tests.conftest import IMAGES_DIR
from tests.integration.conftest import needs_chromium

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), needs_chromium]


EXPECTED = {"test_2.JPEG": "monarch butterfly", "test_10.JPEG": "guacamole", "test_25.JPEG": "fountain",
            "test_40.JPEG": "baluster", "test_55.JPEG": "Christmas stocking"}  # fmt: skip


def test_upload_images_on_the_home_page_and_see_their_labels(page, tmp_path: Path) -> None:
    # Five at once: more than the page lets long-poll together (three), so the others wait their turn.
    images = [shutil.copy(IMAGES_DIR / name, tmp_path / name) for name in EXPECTED]
    page.goto("/")
    page.set_input_files("#files", images)

    done = page.locator("article.card[data-state=done]")
    done.nth(len(EXPECTED) - 1).wait_for(timeout=90_000)
    labels = {card.locator(".name").inner_text(): card.locator(".label").inner_text() for card in done.all()}
    assert labels == EXPECTED
    for card in done.all():
        assert card.locator("img").get_attribute("src").startswith("blob:")  # the thumbnail, before any upload
        assert card.locator("ol.top5 li").count() == 5
    assert Classification.objects.filter(status=Status.DONE).count() == len(EXPECTED)
    # The recent-requests table below catches up by itself: every label, once the last refresh has landed (an
    # earlier one may already show all five rows, some still queued).
    page.wait_for_function(
        "labels => labels.every(label => document.getElementById('recent').innerText.includes(label))",
        arg=list(EXPECTED.values()),
        timeout=10_000,
    )
    # Its thumbnails render (server-made JPEGs); leaving before they have would abort their loads.
    page.locator("#recent").scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#recent img.thumb')].every(image => image.complete && image.naturalWidth)"
    )

    # The label links to the request's page: image, label, top-5 bars, timings and the worker.
    done.first.locator(".label").click()
    page.wait_for_url("**/requests/*/")
    assert page.locator("#label").inner_text() in labels.values()
    assert page.locator("#top5 tbody tr").count() == 5
    assert page.locator("img.preview").evaluate("image => image.naturalWidth") == 64
    assert "worker-1@" in page.content()


def test_a_refused_file_says_why_and_the_others_go_on(page, tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("this is not a picture")
    good = shutil.copy(IMAGES_DIR / "test_2.JPEG", tmp_path / "test_2.JPEG")
    page.goto("/")
    page.set_input_files("#files", [tmp_path / "notes.jpg", good])

    refused = page.locator("article.card[data-state=refused]")
    refused.wait_for(timeout=30_000)
    assert "HTTP 415" in refused.locator(".state").inner_text()
    assert "not an image" in refused.locator(".error").inner_text()
    page.locator("article.card[data-state=done]").wait_for(timeout=60_000)
    assert Classification.objects.count() == 1


def test_requests_page_lists_with_thumbnails(page, stack) -> None:
    with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:
        assert httpx.post(stack.web_url + "/", files={"myfile": ("test_2.JPEG", handle)}, timeout=60).text == (
            "monarch butterfly"
        )
    page.goto("/requests/")
    row = page.locator("table.requests tbody tr").first
    assert "monarch butterfly" in row.inner_text()
    thumbnail = row.locator("img.thumb")
    thumbnail.wait_for()
    page.wait_for_function("() => document.querySelector('img.thumb').complete")
    assert thumbnail.evaluate("image => image.naturalWidth") > 0
    assert page.locator("link[rel=stylesheet]").evaluate("link => link.sheet.cssRules.length") > 0


def test_api_docs_render_from_our_own_static_files(page) -> None:
    page.goto("/api/docs/")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 3
