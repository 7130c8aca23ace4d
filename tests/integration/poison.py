"""A decoder that crashes on some images, for the poison fault test: loaded only into that test's workers, with
`celery worker --include tests.integration.poison`; production code knows nothing of it.

A classify task for an image whose name starts with "poison" ends its pool process at once, before the task body
runs: a real process death, as a segfault in an image decoder would be. Nothing is raised and nothing is reported;
the message comes back and, after maxReceiveCount receives, SQS moves it to the dead-letter queue.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import task_prerun, worker_init

# After a pool process dies, Celery waits worker_lost_wait (10 s by default) for a result it might have sent before
# dying, and the worker takes nothing else meanwhile. Twenty deaths in this test would cost minutes of that; these
# deaths never send a result, so a second is enough.
LOST_WAIT_SECONDS = 1.0


@worker_init.connect
def _short_lost_wait(sender: Any = None, **_: Any) -> None:
    sender.worker_lost_wait = LOST_WAIT_SECONDS  # read when the pool is built, just after this signal


@task_prerun.connect
def _die_on_poison(sender: Any = None, args: Any = None, **_: Any) -> None:
    original_name = args[2] if args and len(args) > 2 else ""
    if getattr(sender, "name", "") == "classifier.classify" and str(original_name).startswith("poison"):
        os._exit(1)
