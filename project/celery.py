"""The Celery application, configured from Django settings (the CELERY_ names in project/settings.py)."""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery.signals import (
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_shutting_down,
)

from autoscale.retire import RetireWhenIdle
from classifier.worker.handover import HandOverClassifyReceives
from classifier.worker.stranded import HandBackStranded
from common.lifetime import die_with_worker_main, remember_worker_main
from common.logs import reset_request, set_request
from fastpaths.celery_worker import JsonLoggingCelery
from fastpaths.kombu_sqs import stop_receiving

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


app = JsonLoggingCelery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Scale-in: a worker with nothing to do for WORKER_IDLE_SECONDS shuts itself down (when WORKER_RETIRE is set).
app.steps["consumer"].add(RetireWhenIdle)
# A task whose pool process died taking it is handed back instead of held for the worker's lifetime.
app.steps["consumer"].add(HandBackStranded)


def _hand_over_receives() -> bool:
    from django.conf import settings

    # The hand-over runs on threads of its own: only the synchronous consumer (kombu_sqs) leaves the pool to them;
    # under kombu's own transport Celery's event loop owns it.
    return {"celery_pool", "kombu_sqs"} <= settings.FAST_PATHS


if _hand_over_receives():
    # The classify requests of one receive go to a pool process as one job, not one job each (fastpaths/).
    app.steps["consumer"].add(HandOverClassifyReceives)


@celeryd_init.connect  # the worker's first step, before its check that warns about running as root
@setup_logging.connect
def _use_django_logging(**_: Any) -> None:
    """Workers log through the same configuration as the web tier instead of Celery's own, from their very start;
    Python's warnings (the one about running as root, say) become log records too, as Django's own set-up makes
    them."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


@worker_init.connect
def _remember_the_worker(**_: Any) -> None:
    remember_worker_main()


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
    """SIGTERM (systemd, a spot interruption, a retiring worker): finish what runs, start nothing new. (kombu's own
    transport, with FAST_PATHS off, hands back what it receives then after `wait_time_seconds`.)"""
    stop_receiving()
