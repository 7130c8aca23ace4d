"""Uploads that wait together are accepted together, each caller hearing only its own outcome."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from classifier import dispatch
from classifier.intake import http
from classifier.intake.group_commit import GroupCommit, Upload
from classifier.intake.validation import UploadRejected
from classifier.models import Classification
from tests.conftest import IMAGES_DIR


class Intake:
    """A stand-in for the intake threads' work: records each group; the first group waits for `go`."""

    def __init__(self, fail: Callable[[object], BaseException | None] = lambda request: None) -> None:
        self.groups: list[list[object]] = []
        self.go = threading.Event()
        self.threads_started = 0
        self._fail = fail

    def start_thread(self, work: Callable[[], None]) -> None:
        self.threads_started += 1
        threading.Thread(target=work, daemon=True).start()

    def accept_group(self, uploads: list[Upload]) -> list[object]:
        self.groups.append([upload.request for upload in uploads])
        self.go.wait(5)
        outcomes = []
        for upload in uploads:
            failure = self._fail(upload.request)
            outcomes.append(failure if failure is not None else ("myfile", f"row of {upload.request}"))
        return outcomes


def _group_commit(intake: Intake, threads: int = 1, group_max: int = 3) -> GroupCommit:
    return GroupCommit(asyncio.get_running_loop(), intake.start_thread, intake.accept_group, threads, group_max)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def _submit(group_commit: GroupCommit, name: str) -> asyncio.Task:
    return asyncio.ensure_future(group_commit.accept(Upload(name, ("myfile",))))  # type: ignore[arg-type]


def test_uploads_waiting_together_go_as_groups_of_at_most_the_maximum_and_each_caller_gets_its_own_row() -> None:
    async def scenario() -> tuple[list[object], list[list[object]], int]:
        intake = Intake()
        group_commit = _group_commit(intake, threads=1, group_max=3)
        first = _submit(group_commit, "a")
        await _until(lambda: len(intake.groups) == 1)
        rest = [_submit(group_commit, name) for name in "bcde"]
        await asyncio.sleep(0.05)
        intake.go.set()
        answers = await asyncio.gather(first, *rest)
        return answers, intake.groups, intake.threads_started

    answers, groups, threads_started = asyncio.run(scenario())
    assert groups == [["a"], ["b", "c", "d"], ["e"]]
    assert answers == [("myfile", f"row of {name}") for name in "abcde"]
    assert threads_started == 1  # the thread stayed on the queue while uploads waited


def test_an_upload_s_failure_reaches_its_caller_only_and_a_failing_group_fails_its_callers_only() -> None:
    def fail(request: object) -> BaseException | None:
        return UploadRejected(415, "not an image") if request == "bad" else None

    async def scenario() -> tuple[list[object], list[object]]:
        intake = Intake(fail)
        intake.go.set()
        group_commit = _group_commit(intake)
        mixed = await asyncio.gather(*(_submit(group_commit, name) for name in ("ok", "bad")), return_exceptions=True)

        def broken(uploads: list[Upload]) -> list[object]:
            if uploads[0].request == "boom":
                raise RuntimeError("a fault of the group's code")
            return [("myfile", "row")] * len(uploads)

        group_commit._accept_group = broken  # type: ignore[assignment]
        faulty = await asyncio.gather(_submit(group_commit, "boom"), return_exceptions=True)
        after = await _submit(group_commit, "next")
        return mixed, [*faulty, after]

    mixed, (faulty, after) = asyncio.run(scenario())
    assert mixed[0] == ("myfile", "row of ok")
    assert isinstance(mixed[1], UploadRejected) and mixed[1].status == 415
    assert isinstance(faulty, RuntimeError)
    assert after == ("myfile", "row")  # the queue is still served after a group's fault


def test_no_more_threads_than_allowed_and_a_new_one_once_the_queue_was_empty() -> None:
    async def scenario() -> tuple[int, int, int]:
        intake = Intake()
        group_commit = _group_commit(intake, threads=2, group_max=1)
        tasks = [_submit(group_commit, str(n)) for n in range(6)]
        await _until(lambda: len(intake.groups) == 2)
        while_busy = intake.threads_started
        intake.go.set()
        await asyncio.gather(*tasks)
        await _until(lambda: group_commit._running == 0)
        await _submit(group_commit, "later")
        return while_busy, intake.threads_started, len(intake.groups)

    while_busy, threads_started, groups = asyncio.run(scenario())
    assert while_busy == 2
    assert threads_started == 3
    assert groups == 7


def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    async def scenario() -> object:
        intake = Intake()
        group_commit = _group_commit(intake)
        first = _submit(group_commit, "a")
        await _until(lambda: len(intake.groups) == 1)
        gone, staying = _submit(group_commit, "b"), _submit(group_commit, "c")
        await asyncio.sleep(0.05)
        gone.cancel()  # a client disconnect cancels its request's task
        intake.go.set()
        await first
        return await staying

    assert asyncio.run(scenario()) == ("myfile", "row of c")


# --- accept_group against the database -----------------------------------------------------------------------------
def _request(name: str, data: bytes) -> object:
    return RequestFactory().post("/", {"myfile": SimpleUploadedFile(name, data, content_type="image/jpeg")})


@pytest.fixture
def image_bytes() -> bytes:
    return (IMAGES_DIR / "test_2.JPEG").read_bytes()


@pytest.fixture
def groups_accepted(monkeypatch) -> list[list[str]]:
    """The names of each list of images accept_all was given, with accept_all itself left to run (its sends after the
    commit kept here)."""
    monkeypatch.setattr(dispatch, "queue_for_classification", lambda row: None)
    seen: list[list[str]] = []
    real = http.accept_all

    def recording(images, *args, **kwargs):
        seen.append([image.name for image in images])
        if len(images) > 1 and any(image.name == "refused-in-a-group.JPEG" for image in images):
            raise ValueError("an insert refused")
        if any(image.name == "refused.JPEG" for image in images):
            raise ValueError("an insert refused")
        return real(images, *args, **kwargs)

    monkeypatch.setattr(http, "accept_all", recording)
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_group_validates_each_upload_alone_and_accepts_the_valid_ones_in_one_transaction(
    groups_accepted, image_bytes
) -> None:
    uploads = [
        Upload(_request("one.JPEG", image_bytes), ("myfile",)),
        Upload(_request("notes.JPEG", b"just text"), ("myfile",)),
        Upload(_request("two.JPEG", image_bytes), ("myfile",)),
    ]
    one, notes, two = http.accept_group(uploads)
    assert isinstance(notes, UploadRejected) and notes.status == 415
    assert one[0] == "myfile" and one[1].original_name == "one.JPEG"
    assert two[1].original_name == "two.JPEG"
    assert groups_accepted == [["one.JPEG", "two.JPEG"]]
    assert set(Classification.objects.values_list("original_name", flat=True)) == {"one.JPEG", "two.JPEG"}


@pytest.mark.django_db(transaction=True)
def test_a_group_refused_for_one_upload_is_accepted_one_by_one(groups_accepted, image_bytes, caplog) -> None:
    names = ["first.JPEG", "refused.JPEG", "refused-in-a-group.JPEG"]
    outcomes = http.accept_group([Upload(_request(name, image_bytes), ("myfile",)) for name in names])
    assert groups_accepted == [names, ["first.JPEG"], ["refused.JPEG"], ["refused-in-a-group.JPEG"]]
    assert outcomes[0][1].original_name == "first.JPEG"
    assert isinstance(outcomes[1], ValueError)  # still failing alone: that caller hears why (a 500)
    assert outcomes[2][1].original_name == "refused-in-a-group.JPEG"
    assert set(Classification.objects.values_list("original_name", flat=True)) == {names[0], names[2]}
    assert "accepting them one by one" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_an_outage_refuses_the_whole_group_with_503_at_once(groups_accepted, image_bytes, settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "inputs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": "/dev/null/x"}},
    }
    outcomes = http.accept_group([Upload(_request(f"{n}.JPEG", image_bytes), ("myfile",)) for n in range(3)])
    assert all(isinstance(outcome, UploadRejected) and outcome.status == 503 for outcome in outcomes)
    assert len(groups_accepted) == 1  # not tried again one by one: each would meet the same outage
    assert not Classification.objects.exists()
