"""botocore, bent for S3: the object PUT and GET of every upload spoken directly, everything else through boto3.

Every upload costs three S3 calls: the web tier stores the image, a worker reads it and stores the result. Through boto3
each call spends more client CPU in botocore's machinery (endpoint rules, event hooks, parameter validation, the request
and response models, urllib3 and http.client's header parsing) than the request itself needs. `DirectS3` makes those two
calls as one signed HTTP request each (common/sigv4.py, held equal to botocore's S3 signer), with botocore's credentials
and the client's error classes, over libcurl (common/curl_post.py), on a connection each thread keeps open.

What boto3 would do and this keeps: the client's endpoint and addressing style (the bucket's URL is the one boto3
builds, read once per bucket from a presigned URL), region, credentials (refreshed, as from an instance profile),
timeouts and retries (botocore's standard mode, shared with fastpaths/botocore_sqs.py), the trust store for TLS, the
body's SHA-256 in the signature (as botocore's S3 signer puts it there), and `ClientError` with S3's code (`NoSuchKey`,
`AccessDenied`) and the HTTP status for an error. A write parameter other than the few spoken here (content type and
encoding, user metadata, cache control, content disposition), and every call where a proxy is configured, go through
boto3. With FAST_PATHS off, or `botocore_s3` not in it, the S3 storage calls boto3 itself. This module reads the
credentials the client's request signer holds, as `DirectSQS.around` does (tests/fastpaths/test_guards.py holds the
name).
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from common.curl_post import Answer, Request
from common.sigv4 import Signer, payload_sha256
from fastpaths.botocore_sqs import USER_AGENT, transport, with_retries

# boto3's PutObject parameters this module sends as headers; any other one sends the object through boto3.
WRITE_HEADERS = {
    "ContentType": "Content-Type",
    "ContentEncoding": "Content-Encoding",
    "CacheControl": "Cache-Control",
    "ContentDisposition": "Content-Disposition",
}
SPOKEN = frozenset(WRITE_HEADERS) | {"Metadata"}
OBJECT = frozenset({"Bucket", "Key", "Body"})
_ERROR_FIELD = re.compile(rb"<(Code|Message)>([^<]*)</\1>")


class DirectS3:
    """A boto3 S3 client's PutObject and GetObject as one signed request each (see the module's docstring)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._credentials = client._request_signer._credentials  # a private name: what the client signs with
        self._region = client.meta.region_name
        self._signer = Signer("s3", self._region)
        self._attempts, self._http, self._direct = transport(client, self._credentials)
        self._bucket_urls: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        return self._client

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **params: Any) -> None:  # noqa: N803 - boto3's names
        if not self._direct or set(params) - SPOKEN:
            self._client.put_object(Bucket=Bucket, Key=Key, Body=Body, **params)
            return
        headers = _headers(params)
        with_retries(self._attempts, lambda: self._send("PutObject", "PUT", Bucket, Key, Body, headers))

    def put_objects(self, puts: list[dict[str, Any]]) -> None:
        """Several PutObjects (each boto3's parameters) at once, each on a connection of its own; one that fails in a
        way botocore retries is retried alone, and the first that still fails raises."""
        if not self._direct or len(puts) == 1 or any(set(params) - OBJECT - SPOKEN for params in puts):
            for params in puts:
                self.put_object(**params)
            return
        requests = [self._signed("PUT", params["Bucket"], params["Key"], params["Body"], _headers(params))
                    for params in puts]  # fmt: skip
        for params, answer in zip(puts, self._http.send_all(requests), strict=True):
            if isinstance(answer, Answer) and 200 <= answer.status < 300:
                continue
            self.put_object(**params)  # again, alone, with the retries one PutObject gets

    def get_object_bytes(self, *, Bucket: str, Key: str) -> bytes:  # noqa: N803 - boto3's names
        """The object's whole body (GetObject)."""
        if not self._direct:
            return whole_body(self._client, Bucket=Bucket, Key=Key)
        return with_retries(self._attempts, lambda: self._send("GetObject", "GET", Bucket, Key, None, {}))

    def _send(
        self, operation: str, method: str, bucket: str, key: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, ClientError | None]:
        answer = self._http.send(*self._signed(method, bucket, key, body, headers))
        if 200 <= answer.status < 300:
            return answer.status, answer.body, None
        return answer.status, b"", self._error(operation, answer)

    def _signed(self, method: str, bucket: str, key: str, body: bytes | None, headers: dict[str, str]) -> Request:
        url = self._bucket_url(bucket) + quote(key, safe="/~")
        signed = self._signer.sign(self._credentials.get_frozen_credentials(), method, url,
                                   {**headers, "User-Agent": USER_AGENT}, payload_sha256(body))  # fmt: skip
        return method, url, body, signed.items()

    def _bucket_url(self, bucket: str) -> str:
        """The bucket's URL ending in `/`, as boto3 addresses it (virtual-hosted or path style, the region's
        endpoint or the configured one): a presigned URL for a key of one character, cut before that key."""
        with self._lock:
            url = self._bucket_urls.get(bucket)
            if url is None:
                presigned = self._client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
                url = self._bucket_urls[bucket] = presigned.split("?", 1)[0][: -len("k")]
            return url

    def _error(self, operation: str, answer: Answer) -> ClientError:
        """The exception boto3 raises for this answer: S3's code from the XML body (a HEAD-less error has none: its
        status stands in), the status and request id in the response metadata."""
        fields = {name.decode(): value.decode("utf-8", "replace") for name, value in _ERROR_FIELD.findall(answer.body)}
        code = fields.get("Code") or {404: "NoSuchKey", 403: "AccessDenied"}.get(answer.status, str(answer.status))
        error = {"Code": code, "Message": fields.get("Message") or answer.reason}
        metadata = {"HTTPStatusCode": answer.status, "RequestId": answer.header("x-amz-request-id")}
        error_class = self._client.exceptions.from_code(code)
        return error_class({"Error": error, "ResponseMetadata": metadata}, operation)  # type: ignore[no-any-return]


def whole_body(client: Any, **params: Any) -> bytes:
    """An object's whole body through boto3's GetObject (`params` are its parameters)."""
    answer = client.get_object(**params)
    with answer["Body"] as body:
        return bytes(body.read())


def _headers(params: dict[str, Any]) -> dict[str, str]:
    """A PutObject's headers from boto3's parameters (those in SPOKEN)."""
    headers = {WRITE_HEADERS[name]: str(value) for name, value in params.items() if name in WRITE_HEADERS}
    for name, value in (params.get("Metadata") or {}).items():
        headers[f"x-amz-meta-{name}"] = value
    return headers
