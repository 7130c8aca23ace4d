"""The AWS endpoint of EC2 in a box, recording every call: moto's server with a WSGI layer in front that writes one
JSON line per request (who signed it, the service, the operation, its parameters, the answer's status) to a file.

`python -m tests.iam.recording_endpoint -H HOST -p PORT --record FILE`. Recorded on the server, not in our
processes: whatever a tier calls, however it calls it, is seen. tests/iam/authorization.py says what AWS would
authorise for each call; tests/iam/evaluator.py judges it against the caller's role's policy.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import unescape

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
# Services whose requests name their operation in an Action= form field (the query protocol).
_QUERY_ACTION = re.compile(r"(?:^|&)Action=([A-Za-z0-9]+)")


@dataclass(frozen=True)
class Call:
    key: str  # the access key id that signed it ("" unsigned)
    region: str
    service: str  # the signing name: s3, sqs, ec2, autoscaling, iam, sts, ssm, secretsmanager, ...
    operation: str  # the API operation: PutObject, SendMessageBatch, RunInstances, ...
    params: dict[str, Any]  # JSON body, query-protocol fields, or for S3 bucket/key/query
    status: int = 0

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _s3_operation(method: str, path: str, query: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    """Path-style S3 (what an IP endpoint gets): /bucket[/key], the method and the sub-resource name the operation."""
    bucket, _, key = unquote(path.lstrip("/")).partition("/")
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Query": sorted(query)}
    if not bucket:
        return ("ListBuckets" if method == "GET" else f"{method} /"), params
    if key:
        if "uploadId" in query:
            operation = {"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload",
                         "GET": "ListParts"}[method]  # fmt: skip
        elif "uploads" in query:
            operation = "CreateMultipartUpload"
        elif "tagging" in query:
            operation = {"GET": "GetObjectTagging", "PUT": "PutObjectTagging"}.get(method, f"{method} ?tagging")
        else:
            operation = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}.get(
                method, f"{method} object"
            )
        return operation, params
    if "delete" in query and method == "POST":
        return "DeleteObjects", params
    if "list-type" in query or (method == "GET" and not query):
        return ("ListObjectsV2" if "list-type" in query else "ListObjects"), params
    if "versions" in query:
        return "ListObjectVersions", params
    named = {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}
    if not query and method in named:
        return named[method], params
    return f"{method} bucket ?{','.join(sorted(query))}", params


def identify(environ: dict[str, Any], body: bytes) -> Call:
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    scope = _CREDENTIAL.search(authorization) or _CREDENTIAL.search(
        "Credential=" + query.get("X-Amz-Credential", [""])[0]
    )
    key, region, service = scope.groups() if scope else ("", "", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    text = body.decode("utf-8", "replace")
    if target:  # the JSON protocol: SQS, SSM, Secrets Manager, ...
        operation = target.rsplit(".", 1)[-1]
        params = json.loads(text) if text.strip() else {}
    elif service != "s3" and (_QUERY_ACTION.search(text) or "Action" in query):
        fields = {**query, **parse_qs(text, keep_blank_values=True)}
        params = {name: values[0] if len(values) == 1 else values for name, values in fields.items()}
        operation = str(params.pop("Action"))
    elif service == "s3" or not service:
        operation, params = _s3_operation(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"), query)
        if operation == "DeleteObjects":
            params["Keys"] = [unescape(key) for key in re.findall(r"<Key>(.*?)</Key>", text, re.S)]
        service = service or "s3"
    else:
        operation, params = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '/')}", {}
    return Call(key, region, service, operation, params)


class Recorder:
    """WSGI middleware: the request's body is read once, recorded, and handed on unchanged."""

    def __init__(self, app: Callable[..., Iterable[bytes]], path: str) -> None:
        self.app = app
        self.file = open(path, "a", buffering=1)  # noqa: SIM115  # line-buffered for the life of the server
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[int] = []

        def record_status(code: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            status.append(int(code.split()[0]))
            return start_response(code, headers, *rest)

        answer = self.app(environ, record_status)
        try:
            call = identify(environ, body)
        except Exception as exc:  # an unparseable request is recorded as such: the check then fails on it
            call = Call("", "", "?", f"unparsed: {exc!r}", {})
        with self.lock:
            self.file.write(Call(**{**asdict(call), "status": status[0] if status else 0}).line() + "\n")
        return answer


def read(path: str) -> list[Call]:
    with open(path) as lines:
        return [Call(**json.loads(line)) for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args(argv)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, Recorder(app, args.record), threaded=True)


if __name__ == "__main__":
    main()
