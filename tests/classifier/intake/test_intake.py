import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from PIL import Image

from classifier import dispatch, storage
from classifier.intake.acceptance import accept_all
from classifier.intake.validation import UploadRejected, validate
from classifier.models import Classification, Status
from tests.conftest import IMAGES_DIR


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


@pytest.mark.parametrize(
    ("upload", "status", "message"),
    [
        (None, 400, "no file: send the image as a multipart/form-data part named 'myfile'"),
        (_upload("empty.jpg", b""), 400, "empty.jpg: the file is empty"),
        (_upload("notes.jpg", b"just text"), 415, "not an image"),
        (_upload("cut.jpg", (IMAGES_DIR / "test_2.JPEG").read_bytes()[:900]), 400, "corrupt or truncated"),
    ],
)
def test_validation_rejects_with_status_and_reason(upload, status: int, message: str) -> None:
    with pytest.raises(UploadRejected, match=message) as caught:
        validate(upload, "myfile")
    assert caught.value.status == status


def test_size_limit_gives_413(settings) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    with pytest.raises(UploadRejected, match="the limit is 1000 bytes") as caught:
        validate(_upload("big.jpg", b"x" * 1001), "file")
    assert caught.value.status == 413


def test_pixel_limit_gives_400(settings) -> None:
    settings.UPLOAD_MAX_PIXELS = 64 * 64 - 1
    with pytest.raises(UploadRejected, match="more than the limit") as caught:
        validate(_upload("test_2.JPEG", (IMAGES_DIR / "test_2.JPEG").read_bytes()), "file")
    assert caught.value.status == 400


@pytest.mark.django_db
def test_accept_stores_image_and_row_then_sends_after_commit(
    monkeypatch, django_capture_on_commit_callbacks, tmp_path, settings
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "inputs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    sent: list[Classification] = []
    monkeypatch.setattr(dispatch, "queue_for_classification", sent.append)
    image = validate(_upload("test_2.JPEG", (IMAGES_DIR / "test_2.JPEG").read_bytes()), "file")

    with django_capture_on_commit_callbacks(execute=True):
        [first] = accept_all([image])
        [second] = accept_all([image])
        assert sent == []  # nothing goes out before the row is committed

    assert [row.pk for row in sent] == [first.pk, second.pk]
    assert first.input_key != second.input_key  # same file name, two objects
    for row in (first, second):
        stored = Classification.objects.get(pk=row.pk)
        assert (stored.status, stored.original_name, stored.content_type) == (
            Status.QUEUED,
            "test_2.JPEG",
            "image/jpeg",
        )
        assert (stored.width, stored.height) == (64, 64)
        with storage.inputs().open(stored.input_key) as handle:
            assert handle.read() == image.data


@pytest.mark.django_db(transaction=True)  # a real COMMIT runs the real after-commit hooks
def test_a_send_that_fails_after_the_commit_keeps_the_row_for_the_sweeper(monkeypatch, tmp_path, settings, caplog):
    settings.STORAGES = {
        **settings.STORAGES,
        "inputs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }

    def queue_gone(row: Classification) -> None:
        raise RuntimeError("The specified queue does not exist.")

    monkeypatch.setattr(dispatch, "queue_for_classification", queue_gone)
    image = validate(_upload("test_2.JPEG", (IMAGES_DIR / "test_2.JPEG").read_bytes()), "file")
    [row] = accept_all([image])  # no exception: the upload was accepted, and is kept
    assert Classification.objects.get(pk=row.pk).status == Status.QUEUED
    assert "send_after_commit" in caplog.text and "The specified queue does not exist." in caplog.text


def test_validated_image_keeps_dimensions() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200)).save(buffer, format="PNG")
    image = validate(_upload("wide.png", buffer.getvalue()), "file")
    assert (image.width, image.height, image.mime_type) == (300, 200, "image/png")


@pytest.mark.django_db(transaction=True)  # the upload path closes its connection, as it does in the server
def test_storage_down_is_503_and_nothing_is_kept(settings) -> None:
    from classifier.intake.group_commit import Upload
    from classifier.intake.http import accept_group

    settings.STORAGES = {
        **settings.STORAGES,
        "inputs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": "/dev/null/x"}},
    }
    image = _upload("test_2.JPEG", (IMAGES_DIR / "test_2.JPEG").read_bytes())
    [outcome] = accept_group([Upload(RequestFactory().post("/", {"myfile": image}), ("myfile",))])
    assert isinstance(outcome, UploadRejected) and outcome.status == 503
    assert "storage unavailable" in outcome.message
    assert not Classification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_images_stay_when_the_commit_itself_fails(monkeypatch, tmp_path, settings) -> None:
    """A COMMIT that fails may still have gone through: the images must not be deleted from under the rows."""
    from django.db import OperationalError, connection

    settings.STORAGES = {
        **settings.STORAGES,
        "inputs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    monkeypatch.setattr(dispatch, "queue_for_classification", lambda row: None)
    image = validate(_upload("test_2.JPEG", (IMAGES_DIR / "test_2.JPEG").read_bytes()), "file")
    real_commit = connection.commit

    def commit_then_lose_the_answer() -> None:
        real_commit()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connection, "commit", commit_then_lose_the_answer)
    with pytest.raises(OperationalError):
        accept_all([image])
    monkeypatch.undo()
    row = Classification.objects.get()
    assert storage.inputs().exists(row.input_key)


@pytest.mark.django_db
def test_a_batch_that_cannot_be_sent_goes_one_by_one_and_what_still_fails_waits_for_the_sweeper(
    monkeypatch, caplog
) -> None:
    """The web tier's batched send (classifier/dispatch.py): a batch refused whole, then one message refused again."""
    from classifier.dispatch import _ClassifyQueue

    rows = [Classification.objects.create(original_name=f"{n}.JPEG", input_key=f"k/{n}") for n in range(3)]

    class Refusing:
        def get_queue_url(self, **_: object) -> dict[str, str]:
            return {"QueueUrl": "http://sqs/classify"}

        def send_message_batch(self, **_: object) -> dict[str, object]:
            raise RuntimeError("The specified queue does not exist.")

    sent: list[Classification] = []

    def send_one(row: Classification) -> None:
        if row.pk == rows[1].pk:
            raise RuntimeError("still down")
        sent.append(row)

    monkeypatch.setattr(dispatch, "send_for_classification", send_one)
    monkeypatch.setattr(dispatch, "sqs_client", lambda: Refusing())
    _ClassifyQueue().send(rows)
    assert [row.pk for row in sent] == [rows[0].pk, rows[2].pk]
    assert "sending them one by one" in caplog.text
    assert f"could not send {rows[1].pk}; it stays queued for the sweeper" in caplog.text
    assert Classification.objects.get(pk=rows[1].pk).status == Status.QUEUED
