"""Guards for fastpaths/: every private name a fast path uses, every library function it copies or re-does, and the
library versions they were read against. An upgrade fails here, each by name, before anything else: re-read the
library's new code beside the fast path named in the failure, mend the fast path (or drop it: FAST_PATHS=off is the
stock path), then record what was read here.

A copied or re-done function is held by a hash of its source; a private method we call or override by its
signature; a private attribute by its existence (on the class, or assigned in the owner's source)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.private_names import is_private, private_uses

# The versions the fast paths were read against. requirements.txt pins the same (test below); botocore, billiard and
# asgiref come with boto3, celery and Django, and are pinned there too for this reason.
READ_AGAINST = {
    "Django": "5.2.19",
    "asgiref": "3.13.0",
    "celery": "5.7.0",
    "billiard": "4.3.2",
    "kombu": "5.7.0",
    "botocore": "1.44.18",
    "django-storages": "1.14.6",
    "whitenoise": "6.12.0",
    "moto": "5.2.5",
}


@dataclass(frozen=True)
class Guard:
    owner: str  # an importable dotted path: a module, or a class in one
    name: str  # the private name, or the copied function's
    used_by: str  # the fastpaths module that relies on it
    signature: str | None = None  # what we call or override
    source_sha256: str | None = None  # what we copy or re-do: the first 16 hex digits of its source's hash


GUARDS = (
    # kombu's SQS transport: fastpaths/kombu_sqs.py
    Guard("kombu.transport.virtual.base.QoS", "_delivered", "kombu_sqs"),
    Guard("kombu.transport.virtual.base.QoS", "_dirty", "kombu_sqs"),
    Guard("kombu.transport.virtual.base.QoS", "_flush", "kombu_sqs", "(self)"),
    Guard("kombu.transport.virtual.base.Channel", "_consumers", "kombu_sqs"),
    Guard("kombu.transport.SQS.Channel", "_noack_queues", "kombu_sqs"),
    Guard("kombu.transport.SQS.Channel", "_new_queue", "kombu_sqs", "(self, queue, **kwargs)"),
    Guard("kombu.transport.SQS.Channel", "_new_release_client", "kombu_sqs", "(self, client)"),
    Guard("kombu.transport.SQS.Channel", "_messages_to_python", "kombu_sqs", "(self, messages, queue)"),
    Guard(
        "kombu.transport.SQS.Channel",
        "_receive_message",
        "kombu_sqs",
        "(self, queue: 'str', max_number_of_messages: 'int' = 1, wait_time_seconds: 'int | None' = None)",
    ),
    # Re-done for a hand-back at once: its source, not only its signature.
    Guard("kombu.transport.SQS.Channel", "_restore", "kombu_sqs", None, "88fc2813c0932313"),
    Guard("kombu.transport.virtual.base.Channel", "_restore", "kombu_sqs", "(self, message)"),
    Guard("kombu.transport.SQS.Channel", "basic_ack", "kombu_sqs", None, "ea203438531fa1e0"),
    Guard("kombu.transport.SQS.Channel", "drain_events", "kombu_sqs", "(self, timeout=None, callback=None, **kwargs)"),
    # What calls the overrides above, and the delivery info a task reads its message from (`held_by_task`).
    Guard("kombu.transport.SQS.Channel", "_get_bulk", "kombu_sqs", None, "bfafc08017df203d"),
    Guard("kombu.transport.SQS.Channel", "_get", "kombu_sqs", None, "7840f251d1f057f2"),
    Guard("kombu.transport.SQS.Channel", "_envelope_payload", "kombu_sqs", None, "2a17ebfd10df6acd"),
    # Celery's messages as kombu's SQS transport wraps them: fastpaths/celery_messages.py
    Guard("kombu.transport.SQS.Channel", "_put", "celery_messages", None, "abbc7aaeaa2c49c8"),
    Guard("kombu.transport.virtual.base.Channel", "prepare_message", "celery_messages", None, "40e1ae6d7753b659"),
    # Celery's request execution: fastpaths/celery_pool.py re-does it for a job of several requests
    Guard("celery.worker.request.Request", "execute_using_pool", "celery_pool", None, "7979562da58f4266"),
    Guard("celery.app.trace", "fast_trace_task", "celery_pool", None, "52c76aab90e1656f"),
    Guard("celery.app.trace", "trace_task_ret", "celery_pool", None, "edf3530c917cd4b6"),
    Guard(
        "billiard.pool.Pool",
        "apply_async",
        "celery_pool",
        "(self, func, args=(), kwds={}, callback=None, error_callback=None, accept_callback=None, "
        "timeout_callback=None, waitforslot=None, soft_timeout=None, timeout=None, lost_worker_timeout=None, "
        "callbacks_propagate=(), correlation_id=None)",
    ),
    Guard("celery.worker.consumer.consumer.Consumer", "on_task_request", "celery_pool"),
    *(
        Guard("celery.worker.request.Request", name, "celery_pool")
        for name in (
            "app",
            "request_dict",
            "type",
            "body",
            "content_type",
            "content_encoding",
            "time_limits",
            "task",
            "on_accepted",
            "on_success",
        )
    ),
    # Celery's worker state: fastpaths/celery_worker.py
    Guard("celery.worker.state", "reserved_requests", "celery_worker"),
    Guard("celery.worker.state", "active_requests", "celery_worker"),
    Guard("celery.worker.state", "task_ready", "celery_worker", None, "ad25f2985520adf2"),
    # Celery's worker program, its output as log records: fastpaths/celery_worker.py swaps one, re-does another
    Guard("celery.apps.worker", "safe_say", "celery_worker", None, "2a997ad5affebd35"),
    Guard("celery.apps.worker.Worker", "emit_banner", "celery_worker", None, "7bac1d9be2605694"),
    Guard("celery.apps.worker.Worker", "on_before_init", "celery_worker", "(self, quiet=False, **kwargs)"),
    Guard("celery.apps.worker.Worker", "startup_info", "celery_worker", "(self, artlines=True)"),
    Guard("celery.apps.worker.Worker", "extra_info", "celery_worker", "(self)"),
    # Django's ASGI handler: fastpaths/django_asgi.py
    Guard("django.core.handlers.asgi.ASGIHandler", "handle", "django_asgi", None, "98faeb5bef800331"),
    Guard("django.core.handlers.asgi.ASGIHandler", "load_middleware", "django_asgi", None, "a1fb7ee5f8586195"),
    Guard("django.dispatch.Signal", "_live_receivers", "django_asgi", "(self, sender)"),
    Guard("django.http.response.HttpResponseBase", "_resource_closers", "django_asgi"),
    Guard("asgiref.sync.SyncToAsync", "context_to_thread_executor", "django_asgi"),
    Guard("asgiref.sync.SyncToAsync", "thread_sensitive_context", "django_asgi"),
    Guard("asgiref.sync.AsyncToSync", "executors", "django_asgi"),
    # Django's middleware: fastpaths/django_middleware.py (each twin's rule is read off the hook it wraps)
    Guard("django.utils.deprecation.MiddlewareMixin", "__acall__", "django_middleware", None, "adf8cbcaf9f11e45"),
    Guard(
        "django.contrib.sessions.middleware.SessionMiddleware",
        "process_response",
        "django_middleware",
        None,
        "fbaf5503c20d7dd0",
    ),
    Guard(
        "django.contrib.messages.middleware.MessageMiddleware",
        "process_request",
        "django_middleware",
        None,
        "7f4834ba26ee0583",
    ),
    Guard(
        "django.contrib.messages.middleware.MessageMiddleware",
        "process_response",
        "django_middleware",
        None,
        "04469c9493c90e26",
    ),
    Guard(
        "django.middleware.csrf.CsrfViewMiddleware", "process_request", "django_middleware", None, "9aec8dfd81c88a56"
    ),
    Guard("django.middleware.csrf.CsrfViewMiddleware", "process_view", "django_middleware", None, "cdbdabe04318fc2f"),
    Guard(
        "django.middleware.csrf.CsrfViewMiddleware", "process_response", "django_middleware", None, "9fe1054c0f64b37f"
    ),
    Guard("django.contrib.messages.middleware.MessageMiddleware", "_messages", "django_middleware"),  # on the request
    Guard("django.utils.functional.LazyObject", "_wrapped", "django_middleware"),
    # WhiteNoise's middleware: fastpaths/whitenoise_middleware.py re-does its __call__
    Guard("whitenoise.middleware.WhiteNoiseMiddleware", "__call__", "whitenoise_middleware", None, "538b06958308b801"),
    *(
        Guard("whitenoise.middleware.WhiteNoiseMiddleware", name, "whitenoise_middleware")
        for name in ("files", "autorefresh", "find_file", "static_prefix", "directories")
    ),
    # botocore: fastpaths/botocore_sqs.py
    Guard("botocore.client.BaseClient", "_request_signer", "botocore_sqs"),
    Guard("botocore.signers.RequestSigner", "_credentials", "botocore_sqs"),
    # botocore: fastpaths/botocore_s3.py signs with the credentials the S3 client's signer holds
    Guard("botocore.client.BaseClient", "_request_signer", "botocore_s3"),
    Guard("botocore.signers.RequestSigner", "_credentials", "botocore_s3"),
    Guard("botocore.retries.standard.ExponentialBackoff", "delay_amount", "botocore_sqs", None, "522ded9695f701e9"),
    Guard("botocore.retries.standard.ThrottledRetryableChecker", "_THROTTLED_ERROR_CODES", "botocore_sqs"),
    Guard("botocore.retries.standard.TransientRetryableChecker", "_TRANSIENT_ERROR_CODES", "botocore_sqs"),
    Guard("botocore.retries.standard.TransientRetryableChecker", "_TRANSIENT_STATUS_CODES", "botocore_sqs"),
    # django-storages: fastpaths/django_storages.py
    Guard("storages.backends.s3.S3Storage", "_save", "django_storages", None, "fee0eb642f61a9b4"),
    Guard("storages.backends.s3.S3Storage", "_open", "django_storages", None, "87fb59cc88287dc7"),
    Guard("storages.backends.s3.S3Storage", "_get_write_parameters", "django_storages", "(self, name, content=None)"),
    Guard("storages.backends.s3.S3Storage", "_normalize_name", "django_storages", "(self, name)"),
    # moto: fastpaths/moto_server.py replaces these two
    Guard(
        "moto.sqs.models.SQSBackend",
        "is_message_valid_based_on_retention_period",
        "moto_server",
        None,
        "cca23b94a5f3af9d",
    ),
    Guard("moto.backends", "list_of_moto_modules", "moto_server", None, "4f741a10b06500e8"),
    # ... and reads the clock moto's SQS models read (the same value: the time since the epoch, in milliseconds)
    Guard("moto.core.utils", "unix_time_millis", "moto_server", None, "7a37e1337d02962e"),
    Guard("moto.core.utils", "unix_time", "moto_server", None, "f0576ec9e5f586e5"),
)


def _resolve(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part)
        return found
    raise ImportError(path)


def _assigned_in_source(owner: Any, name: str) -> bool:
    """An instance attribute: assigned as `<object>.<name>` somewhere in the owner's classes (MRO)."""
    classes = owner.__mro__ if inspect.isclass(owner) else (owner,)
    pattern = re.compile(rf"\b\w+\.{re.escape(name)}\s*(:[^=]*)?=(?!=)")
    for cls in classes:
        try:
            if pattern.search(inspect.getsource(cls)):
                return True
        except (OSError, TypeError):
            continue
    return False


@pytest.mark.parametrize("guard", GUARDS, ids=[f"{guard.owner}.{guard.name}" for guard in GUARDS])
def test_each_name_a_fast_path_relies_on_is_as_it_was_read(guard: Guard) -> None:
    owner = _resolve(guard.owner)
    where = f"{guard.owner}.{guard.name} (fastpaths/{guard.used_by}.py)"
    assert hasattr(owner, guard.name) or _assigned_in_source(owner, guard.name), f"{where} is gone"
    if guard.signature is None and guard.source_sha256 is None:
        return
    target = getattr(owner, guard.name)
    if guard.signature is not None:
        assert str(inspect.signature(target)) == guard.signature, f"{where}: its signature changed"
    if guard.source_sha256 is not None:
        digest = hashlib.sha256(inspect.getsource(target).encode()).hexdigest()[:16]
        assert digest == guard.source_sha256, f"{where}: its source changed; re-read it beside our copy"


@pytest.mark.parametrize("package", READ_AGAINST)
def test_the_installed_library_is_the_one_the_fast_paths_were_read_against(package: str) -> None:
    assert version(package) == READ_AGAINST[package], f"{package} is not the version fastpaths/ was read against"


def test_requirements_pin_every_library_the_fast_paths_bend_to_that_version() -> None:
    pins = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.M)
    )
    assert {package: pins.get(package) for package in READ_AGAINST} == READ_AGAINST


def test_the_copied_retry_rule_is_botocore_s_own() -> None:
    from botocore.retries import standard

    from fastpaths import botocore_sqs

    assert set(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES) == botocore_sqs.THROTTLING_CODES
    assert set(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES) == botocore_sqs.TRANSIENT_CODES
    assert set(standard.TransientRetryableChecker._TRANSIENT_STATUS_CODES) == botocore_sqs.TRANSIENT_STATUSES
    assert (standard.ExponentialBackoff._MAX_BACKOFF, standard.ExponentialBackoff._BASE) == (
        botocore_sqs.MAX_BACKOFF_SECONDS,
        2,
    )


# --- Every private name fastpaths/ uses is guarded above ---------------------------------------------------------


def _names_used(path: Path) -> set[str]:
    return {use.name for use in private_uses(path, ("fastpaths",))}


def _overridden(module: Any) -> set[str]:
    """Private names a module's classes define over a library class's own."""
    found = set()
    for cls in vars(module).values():
        if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
            continue
        for name in filter(is_private, vars(cls)):
            if any(name in vars(base) for base in cls.__mro__[1:] if not base.__module__.startswith("fastpaths")):
                found.add(name)
    return found


FASTPATH_MODULES = sorted(path.stem for path in (ROOT / "fastpaths").glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("module_name", FASTPATH_MODULES)
def test_every_private_name_a_fast_path_uses_is_guarded(module_name: str) -> None:
    module = importlib.import_module(f"fastpaths.{module_name}")
    ours = {guard.name for guard in GUARDS if guard.used_by == module_name}
    used = _names_used(ROOT / "fastpaths" / f"{module_name}.py") | _overridden(module)
    assert used - ours == set(), f"fastpaths/{module_name}.py uses private names no guard holds"
