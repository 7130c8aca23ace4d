"""django-storages' S3 storage, bent: an image or a result is stored or read in one request, and a file's
`metadata` (a dict) becomes the object's user metadata.

django-storages moves every object through boto3's transfer manager, which is made for large files: each save
starts a thread pool of its own, each read asks for the object's head twice before getting it, and both build a
boto3 resource object whose class is put together anew from the resource model every time. For an image of a few kB
and a one-line result that cost more CPU than the model (`make bench` prints what this saves). Here a save below the
transfer manager's multipart threshold is one PutObject, and a read one GetObject (django-storages too holds the
whole object in memory), on the storage's own client (its session, credentials, endpoint, region and retries); a
larger save, gzip, and every other operation go django-storages' way. Both calls go through DirectS3
(fastpaths/botocore_s3.py) with `botocore_s3` on. Saves made inside `saves_together()` go out at its end, all at
once (the web tier stores a group of uploads so: it waits for the slowest, not for the sum).

It overrides three of S3Storage's private methods and calls a fourth (`_normalize_name`); tests/fastpaths/
test_guards.py holds their signatures. With FAST_PATHS off the settings name django-storages' own S3Storage, which
stores the same objects without the user metadata (the original name, which the database keeps too).
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from s3transfer.constants import ALLOWED_DOWNLOAD_ARGS
from storages.backends.s3 import S3Storage
from storages.utils import clean_name, is_seekable

from fastpaths.botocore_s3 import DirectS3, whole_body


class _WholeBodies:
    """boto3's client with DirectS3's two calls (`botocore_s3` off)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_object(self, **params: Any) -> None:
        self._client.put_object(**params)

    def put_objects(self, puts: list[dict[str, Any]]) -> None:
        for params in puts:
            self._client.put_object(**params)

    def get_object_bytes(self, **params: Any) -> bytes:
        return whole_body(self._client, **params)


class OneRequestS3Storage(S3Storage):
    """django-storages' S3 storage, one request per save or read (see the module's docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._shared_client: Any = None  # the client every thread uses (see _client)
        self._shared_direct: DirectS3 | None = None  # and a DirectS3 around it
        self._shared_lock = threading.Lock()
        self._together = threading.local()  # each thread's saves waiting for the end of a `saves_together` block

    def _get_write_parameters(self, name: str, content: Any = None) -> dict[str, Any]:
        params: dict[str, Any] = super()._get_write_parameters(name, content)
        metadata = getattr(content, "metadata", None)
        if metadata:
            params["Metadata"] = {**params.get("Metadata", {}), **metadata}
        return params

    def _save(self, name: str, content: Any) -> str:
        size = getattr(content, "size", None)
        if self.gzip or size is None or size >= self.transfer_config.multipart_threshold:
            return str(super()._save(name, content))
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        if is_seekable(content):
            content.seek(0)
        body = content.read()
        put = {"Bucket": self.bucket_name, "Key": key, "Body": body.encode() if isinstance(body, str) else body}
        together = getattr(self._together, "puts", None)
        if together is not None:
            together.append({**put, **params})
        else:
            self._requests().put_object(**put, **params)
        return cleaned

    @contextlib.contextmanager
    def saves_together(self) -> Iterator[None]:
        """The saves this thread makes inside the block (of objects small enough for one request) go out when it
        ends, all at once, each on a connection of its own: the block ends when the slowest is stored, or raises the
        first failure. Until then none of them is stored; a block that raises stores none."""
        if getattr(self._together, "puts", None) is not None:  # inside another such block: that one sends them
            yield
            return
        self._together.puts = puts = []
        try:
            yield
        finally:
            self._together.puts = None
        if puts:
            self._requests().put_objects(puts)

    def _open(self, name: str, mode: str = "rb") -> File:
        if mode != "rb" or self.gzip:
            return super()._open(name, mode)
        key = self._normalize_name(clean_name(name))
        params = {
            option: value
            for option, value in self.get_object_parameters(key).items()
            if option in ALLOWED_DOWNLOAD_ARGS  # as django-storages reads an object
        }
        try:
            if params:
                data = whole_body(self._client(), Bucket=self.bucket_name, Key=key, **params)
            else:
                data = self._requests().get_object_bytes(Bucket=self.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                raise FileNotFoundError(f"File does not exist: {key}") from None
            raise
        return File(io.BytesIO(data), name=key[len(self.location) :].lstrip("/"))

    def _client(self) -> Any:
        """One S3 client for every thread. django-storages keeps a boto3 resource per thread (resources are not
        thread-safe; clients are), and building one costs the better part of a second of CPU: where each upload ran
        on a thread of its own (Django's stock path for a synchronous middleware), every upload built one."""
        if self._shared_client is None:
            with self._shared_lock:
                if self._shared_client is None:
                    self._shared_client = self.connection.meta.client
        return self._shared_client

    def _requests(self) -> Any:
        """What makes PutObject and GetObject: a DirectS3 around the client with `botocore_s3` on
        (fastpaths/botocore_s3.py), else the client."""
        client = self._client()
        if "botocore_s3" not in settings.FAST_PATHS:
            return _WholeBodies(client)
        if self._shared_direct is None:
            with self._shared_lock:
                if self._shared_direct is None:
                    self._shared_direct = DirectS3(client)
        return self._shared_direct
