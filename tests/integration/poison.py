"""A decoder that crashes on some images, for the poison fault test: loaded only into that test's workers, with
`celery worker --include tests.integration.poison`; production code knows nothing of it.

An image whose bytes end with POISON (a valid JPEG with trailing bytes, which decoders ignore) ends its pool process
at once where the model decodes it: a real process death, as a segfault in an image decoder would be. Nothing is
raised and nothing is reported; the message comes back and, after maxReceiveCount receives, SQS moves it to the
dead-letter queue.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import worker_init, worker_process_init

POISON = b"\npoison: this decoder dies here\n"

# After a pool process dies, Celery waits worker_lost_wait (10 s by default) for a result it might have sent before
# dying, and the worker takes nothing else meanwhile. Twenty deaths in this test would cost minutes of that; these
# deaths never send a result, so a second is enough.
LOST_WAIT_SECONDS = 1.0


@worker_init.connect
def _short_lost_wait(sender: Any = None, **_: Any) -> None:
    sender.worker_lost_wait = LOST_WAIT_SECONDS  # read when the pool is built, just after this signal


@worker_process_init.connect
def _decoder_dies_on_poison(**_: Any) -> None:
    from classifier.inference import model

    decode = model.decode

    def decode_or_die(data: bytes, *args: Any, **kwargs: Any) -> Any:
        if data.endswith(POISON):
            os._exit(1)
        return decode(data, *args, **kwargs)

    model.decode = decode_or_die
