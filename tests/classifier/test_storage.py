import uuid

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile

from classifier import storage
from common import aws
from common.curl_post import CurlPoster
from fastpaths.botocore_s3 import DirectS3
from fastpaths.django_storages import OneRequestS3Storage
from stack.embedded import LOCAL_CREDENTIALS

REQUEST = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_keys_are_unique_per_request_and_keep_the_name() -> None:
    other = uuid.uuid4()
    assert storage.input_key(REQUEST, "test_0.JPEG") == f"{REQUEST}/test_0.JPEG"
    assert storage.input_key(REQUEST, "test_0.JPEG") != storage.input_key(other, "test_0.JPEG")
    assert storage.output_key(REQUEST, "test_0.JPEG") == f"{REQUEST}/test_0"


def test_output_body_matches_the_course_bucket() -> None:
    assert storage.output_body("test_0.JPEG", "bathtub") == "(test_0, bathtub)"
    assert storage.output_body("dir/photo.final.png", "tabby cat") == "(photo.final, tabby cat)"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("..", "upload"),
        ("", "upload"),
        ("my photo (1).jpg", "my_photo_1.jpg"),
        ("/abs/path/x.png", "x.png"),
    ],
)
def test_names_cannot_escape_the_request_prefix(name: str, expected: str) -> None:
    assert storage.safe_name(name) == expected
    assert storage.input_key(REQUEST, name).startswith(f"{REQUEST}/")
    assert "/" not in storage.input_key(REQUEST, name).removeprefix(f"{REQUEST}/")


def test_very_long_names_are_shortened() -> None:
    assert len(storage.safe_name("a" * 500 + ".jpg")) == storage.MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("test_00.JPEG", "test_00"),
        ("my photo (1).jpg", "my photo (1)"),  # the 2024 generator gets its own name back, not the storage key's
        ("C:\\Users\\me\\cat.final.png", "cat.final"),
        ("a\r\nb.jpg", "ab"),  # the plain-text answer stays one line
        ("", "upload"),
    ],
)
def test_the_original_stem_is_the_clients_name_without_extension(name: str, expected: str) -> None:
    assert storage.original_stem(name) == expected


# --- S3 ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def s3_storage(endpoint: str) -> tuple[OneRequestS3Storage, list[str]]:
    """The service's S3 storage on a new bucket of the module's endpoint, and the S3 operations it makes."""
    bucket = f"storage-{uuid.uuid4().hex[:12]}"
    client = aws.client("s3", endpoint, LOCAL_CREDENTIALS, region="us-east-1")
    client.create_bucket(Bucket=bucket)
    store = OneRequestS3Storage(
        bucket_name=bucket, region_name="us-east-1", endpoint_url=endpoint, file_overwrite=True, default_acl=None,
        access_key=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    operations: list[str] = []
    events = store.connection.meta.client.meta.events
    events.register("before-call.s3", lambda model, **_: operations.append(model.name))
    return store, operations


@pytest.mark.parametrize("direct", [True, False], ids=["botocore_s3 on", "botocore_s3 off"])
def test_an_image_is_stored_and_read_back_in_one_request_each(s3_storage, monkeypatch, settings, direct) -> None:
    store, operations = s3_storage
    if not direct:
        settings.FAST_PATHS = settings.FAST_PATHS - {"botocore_s3"}
    sent: list[str] = []
    send = CurlPoster.send
    monkeypatch.setattr(
        CurlPoster, "send", lambda poster, method, *rest: sent.append(method) or send(poster, method, *rest)
    )
    content = ContentFile(b"\xff\xd8 an image\x00 with a NUL")
    content.content_type = "image/jpeg"  # type: ignore[attr-defined]
    content.metadata = {"original-name": "my%20photo.jpg"}  # type: ignore[attr-defined]

    key = store.save(storage.input_key(REQUEST, "my photo.jpg"), content)
    # No head, no multipart upload: one PutObject, through boto3 or straight to the endpoint.
    assert (operations, sent) == (([], ["PUT"]) if direct else (["PutObject"], []))
    with store.open(key, "rb") as handle:
        assert handle.read() == b"\xff\xd8 an image\x00 with a NUL"
        assert handle.name == key
    assert (operations, sent) == (([], ["PUT", "GET"]) if direct else (["PutObject", "GetObject"], []))

    head = store.connection.meta.client.head_object(Bucket=store.bucket_name, Key=key)
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"] == {"original-name": "my%20photo.jpg"}


def test_saves_on_new_threads_share_one_client(s3_storage) -> None:
    """Each upload on a thread of its own (Django's stock path for a synchronous middleware) once built a boto3
    resource per upload, the better part of a second of CPU each: every thread now uses one client."""
    import threading

    store, _ = s3_storage
    clients: list[object] = []

    def save(n: int) -> None:
        store.save(storage.input_key(REQUEST, f"thread_{n}.JPEG"), ContentFile(b"\xff\xd8 image"))
        clients.append(store._client())

    for n in range(3):
        thread = threading.Thread(target=save, args=(n,))
        thread.start()
        thread.join()
    assert len(clients) == 3 and all(client is clients[0] for client in clients)
    assert clients[0] is store._client()


def test_a_result_is_written_as_text(s3_storage) -> None:
    store, _ = s3_storage
    key = store.save(storage.output_key(REQUEST, "test_0.JPEG"), ContentFile(storage.output_body("test_0.JPEG", "cat")))
    with store.open(key) as handle:
        assert handle.read() == b"(test_0, cat)"


def test_a_missing_object_is_not_found(s3_storage) -> None:
    store, _ = s3_storage
    with pytest.raises(FileNotFoundError):
        store.open(f"{REQUEST}/nothing.JPEG", "rb")


def test_an_object_past_the_multipart_threshold_goes_the_transfer_manager_s_way(s3_storage) -> None:
    store, operations = s3_storage
    store.transfer_config = TransferConfig(multipart_threshold=1024, use_threads=False)
    key = store.save(f"{REQUEST}/large.png", ContentFile(b"p" * 2048))
    assert "CreateMultipartUpload" in operations and "PutObject" not in operations
    with store.open(key, "rb") as handle:
        assert handle.read() == b"p" * 2048


def test_saves_made_together_are_stored_when_the_block_ends_all_at_once(s3_storage, monkeypatch) -> None:
    store, operations = s3_storage
    batches: list[int] = []
    send_all = CurlPoster.send_all
    monkeypatch.setattr(CurlPoster, "send_all", lambda poster, requests: batches.append(len(requests))
                        or send_all(poster, requests))  # fmt: skip
    keys = [storage.input_key(uuid.uuid4(), f"test_{n}.JPEG") for n in range(5)]
    with store.saves_together():
        for n, key in enumerate(keys):
            assert store.save(key, ContentFile(b"\xff\xd8 image %d" % n)) == key
        assert not any(store.exists(key) for key in keys)  # nothing sent yet
    assert batches == [5] and operations.count("PutObject") == 0
    for n, key in enumerate(keys):
        with store.open(key, "rb") as handle:
            assert handle.read() == b"\xff\xd8 image %d" % n


def test_a_block_that_raises_stores_none_of_its_saves(s3_storage) -> None:
    store, _ = s3_storage
    key = storage.input_key(REQUEST, "test_0.JPEG")
    with pytest.raises(RuntimeError), store.saves_together():
        store.save(key, ContentFile(b"an image"))
        raise RuntimeError("the group failed")
    assert not store.exists(key)


def test_a_put_that_fails_among_several_raises_boto3_s_error_and_the_others_are_stored(s3_storage) -> None:
    store, _ = s3_storage
    direct = DirectS3(store.connection.meta.client)
    puts = [{"Bucket": store.bucket_name, "Key": "a/one", "Body": b"1"}, {"Bucket": "no-such-bucket-here", "Key": "b",
            "Body": b"2"}, {"Bucket": store.bucket_name, "Key": "c/three", "Body": b"3"}]  # fmt: skip
    with pytest.raises(ClientError) as raised:
        direct.put_objects(puts)
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert store.exists("a/one") and store.exists("c/three")


def test_an_unreachable_endpoint_is_botocore_s_connection_error_after_its_retries(monkeypatch) -> None:
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    from stack.processes import free_port

    monkeypatch.setattr("fastpaths.botocore_sqs.backoff_seconds", lambda attempt, throttled: 0)
    direct = DirectS3(aws.client("s3", f"http://127.0.0.1:{free_port()}", LOCAL_CREDENTIALS, region="us-east-1",
                                 config=Config(retries={"total_max_attempts": 2})))  # fmt: skip
    with pytest.raises(EndpointConnectionError):
        direct.put_objects([{"Bucket": "bucket-x", "Key": f"k{n}", "Body": b"x"} for n in range(3)])
    with pytest.raises(EndpointConnectionError):
        direct.get_object_bytes(Bucket="bucket-x", Key="k0")
