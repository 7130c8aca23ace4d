import pytest

from classifier import dispatch
from classifier.models import Classification
from classifier.results import recording
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db


def test_changelist_shows_label_status_and_timings(admin_client) -> None:
    done = make_request(original_name="test_2.JPEG", input_key="a/test_2.JPEG")
    recording.record_result(str(done.pk), result_payload())
    make_request(original_name="waiting.png", input_key="b/waiting.png")

    page = admin_client.get("/admin/classifier/classification/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "test_2.JPEG" in html and "monarch butterfly" in html and "waiting.png" in html
    assert "Done" in html and "Queued" in html
    assert "queue wait" in html.lower() and "turnaround" in html.lower()


def test_results_are_facts_the_admin_does_not_edit(admin_client) -> None:
    row = make_request(original_name="x.jpg", input_key="x")
    page = admin_client.get(f"/admin/classifier/classification/{row.pk}/change/")
    assert page.status_code == 200
    assert b'name="label"' not in page.content  # shown, not editable
    assert admin_client.get("/admin/classifier/classification/add/").status_code == 403


def test_admin_requires_login(client) -> None:
    response = client.get("/admin/classifier/classification/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_scaling_events_are_listed_with_filters(admin_client) -> None:
    from autoscale.models import ScalingEvent

    ScalingEvent.objects.create(provider="local", policy="step", action="launch", visible=60, in_flight=0, running=0,
                                pending=0, desired=3, instance_ids=["local-1", "local-2", "local-3"])  # fmt: skip
    page = admin_client.get("/admin/autoscale/scalingevent/?action__exact=launch")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Launch" in html and ">3<" in html


def test_rerun_action_queues_failed_requests_again(admin_client, monkeypatch) -> None:
    sent: list[Classification] = []
    monkeypatch.setattr(dispatch, "send_for_classification", sent.append)
    failed = make_request(original_name="f.jpg", input_key="f", status="failed", error="boom")
    done = make_request(original_name="d.jpg", input_key="d", status="done", label="x")
    response = admin_client.post(
        "/admin/classifier/classification/",
        {"action": "rerun_failed", "_selected_action": [str(failed.pk), str(done.pk)]},
        follow=True,
    )
    assert "Queued 1 failed request(s) again." in response.content.decode()
    assert [row.pk for row in sent] == [failed.pk]
    failed.refresh_from_db()
    assert (failed.status, failed.error, failed.dispatches) == ("queued", "", 2)


def test_changelist_has_thumbnails_and_a_label_filter(admin_client) -> None:
    done = make_request(original_name="test_2.JPEG", input_key="a/test_2.JPEG")
    recording.record_result(str(done.pk), result_payload())
    make_request(original_name="other.png", input_key="b/other.png", status="done", label="tabby")

    html = admin_client.get("/admin/classifier/classification/").content.decode()
    assert f'src="/requests/{done.pk}/thumbnail"' in html
    assert "?label=monarch+butterfly" in html and "monarch butterfly (1)" in html
    filtered = admin_client.get("/admin/classifier/classification/?label=tabby").content.decode()
    assert "other.png" in filtered and "test_2.JPEG" not in filtered
    assert "test_2.JPEG" in admin_client.get("/admin/classifier/classification/?q=test_2").content.decode()


def test_csv_export_of_the_selected_requests(admin_client) -> None:
    import csv
    import io

    done = make_request(original_name="test_2.JPEG", input_key="a/test_2.JPEG")
    recording.record_result(str(done.pk), result_payload())
    sneaky = make_request(original_name="=cmd|'/c calc'!A1.png", input_key="b/x.png")
    response = admin_client.post(
        "/admin/classifier/classification/",
        {"action": "export_csv", "_selected_action": [str(done.pk), str(sneaky.pk)]},
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_name = {row["file_name"]: row for row in rows}
    assert by_name["test_2.JPEG"]["label"] == "monarch butterfly"
    assert by_name["test_2.JPEG"]["top5"].startswith("monarch butterfly 0.")
    assert by_name["test_2.JPEG"]["status"] == "done"
    assert "'=cmd|'/c calc'!A1.png" in by_name  # neutralised, not a formula


def test_re_running_needs_its_own_permission(client, monkeypatch) -> None:
    """Staff who may only look at requests see no re-run or re-drive action, and a forged POST queues nothing."""
    from django.contrib.auth.models import Permission, User

    sent: list[Classification] = []
    monkeypatch.setattr(dispatch, "send_for_classification", sent.append)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_classification"))
    failed = make_request(original_name="f.jpg", input_key="f", status="failed", error="boom")
    client.force_login(viewer)

    page = client.get("/admin/classifier/classification/").content.decode()
    assert "export_csv" in page and "rerun_failed" not in page and "redrive_dead_letters" not in page
    client.post("/admin/classifier/classification/",
                {"action": "rerun_failed", "_selected_action": [str(failed.pk)]})  # fmt: skip
    assert sent == []

    viewer.user_permissions.add(Permission.objects.get(codename="rerun_classification"))
    viewer = User.objects.get(pk=viewer.pk)  # permissions are cached on the user object
    client.force_login(viewer)
    assert "rerun_failed" in client.get("/admin/classifier/classification/").content.decode()
