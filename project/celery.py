"""The Celery application, configured from Django settings (the CELERY_ names in project/settings.py)."""

from __future__ import annotations

import logging.config
import os
from functools import cached_property
from typing import Any

from celery import Celery
from celery.apps.worker import Worker as CeleryWorker
from celery.signals import setup_logging, task_postrun, task_prerun, worker_process_init, worker_shutting_down

from autoscale.retire import RetireWhenIdle
from classifier.worker.stranded import HandBackStranded
from common.lifetime import die_with_worker_main
from common.logs import reset_request, set_request
from project.broker import stop_receiving

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


class _Worker(CeleryWorker):
    def emit_banner(self) -> None:
        """Celery prints its start-up banner as plain text; with LOG_FORMAT=json it is one log record instead, so that
        every line a worker writes is a JSON object."""
        from django.conf import settings

        if settings.LOG_FORMAT != "json":
            super().emit_banner()
            return
        logging.getLogger(__name__).info("%s%s", self.startup_info(artlines=False), self.extra_info() or "")


class _App(Celery):
    @cached_property
    def Worker(self) -> Any:  # noqa: N802 (Celery's name)
        return self.subclass_with_self(_Worker)


app = _App("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Scale-in: a worker with nothing to do for WORKER_IDLE_SECONDS shuts itself down (when WORKER_RETIRE is set).
app.steps["consumer"].add(RetireWhenIdle)
# A task whose pool process died taking it is handed back instead of held for the worker's lifetime.
app.steps["consumer"].add(HandBackStranded)


@setup_logging.connect
def _use_django_logging(**_: Any) -> None:
    """Workers log through the same configuration as the web tier instead of Celery's own; Python's warnings (the
    one about running as root, say) become log records too, as Django's own set-up makes them."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


@worker_process_init.connect
def _die_with_the_worker(**_: Any) -> None:
    """A pool process whose worker's main process died can neither acknowledge nor report: it goes too (the message
    comes back by its visibility timeout), and leaves nothing running behind a SIGKILLed worker."""
    die_with_worker_main()


_request_tokens: dict[str, Any] = {}


@task_prerun.connect
def _log_about_the_request(task_id: str, args: tuple[Any, ...] | None = None, **_: Any) -> None:
    """Every line a task logs is about its request: our tasks all take the request's id first."""
    _request_tokens[task_id] = set_request(args[0] if args else None)


@task_postrun.connect
def _done_with_the_request(task_id: str, **_: Any) -> None:
    token = _request_tokens.pop(task_id, None)
    if token is not None:
        reset_request(token)


@worker_shutting_down.connect
def _take_no_more(**_: Any) -> None:
    """SIGTERM (systemd, a spot interruption, a retiring worker): finish what runs, start nothing new."""
    stop_receiving()
