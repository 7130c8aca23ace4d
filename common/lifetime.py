"""Child processes that end with their parent, even when the parent is SIGKILLed (a closed terminal, the OOM killer).

A process that is SIGKILLed runs no code, so it cannot stop its children: the kernel has to. Linux's
prctl(PR_SET_PDEATHSIG) asks it to send the calling process a signal when its parent dies. Two details make it hold:

- The kernel watches the *thread* that forked the child, not its process: a child forked by a thread that ends
  before the process would be signalled early. Children are started from the main thread, which in Python lives as
  long as the process; a Celery pool process forked by the pool's supervisor thread watches its parent's pid instead
  (Celery sets the signal in its pool processes itself, with neither of these two details).
- The parent may die between the fork and the prctl call. The child then already has another parent and no signal
  would ever come, so it compares its parent with the one that forked it and, if they differ, ends at once: it has
  not started its work yet, so there is nothing to end cleanly.

Where there is no prctl (not Linux) the functions do nothing: a SIGKILLed parent then leaves its children as before.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import partial

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# What a supervised process (runstack's children, the autoscaler's workers) gets when its supervisor dies. SIGTERM,
# because each of them already takes it as "stop cleanly" and nobody is left to escalate: celery does a warm
# shutdown (the task in hand finishes, under a second here, and prefetched messages go back to the queue), uvicorn
# stops listening and ends its requests, moto and our command loops exit. A child's own children are its business:
# the autoscaler's workers get SIGTERM in turn when it exits, their pool processes go with them.
SUPERVISED_EXIT_SIGNAL = signal.SIGTERM
# What a Celery pool process gets when its worker's main process dies. SIGKILL: only the main process can
# acknowledge a message or pass a result on, so whatever the pool process still does is wasted (the message comes
# back on its own when its SQS visibility lapses), and SIGKILL cannot be caught or ignored by billiard's handlers.
POOL_EXIT_SIGNAL = signal.SIGKILL
# How often a pool process that cannot rely on PR_SET_PDEATHSIG looks at its parent.
PARENT_WATCH_INTERVAL = 0.5


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # the C library this interpreter already runs on
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once, in the parent: a child between fork and exec should only make the call, not look up a library
# (that takes locks another thread of the parent may have held at the moment of the fork).
_prctl = _load_prctl()


def die_with_parent(signum: int, parent_pid: int) -> None:
    """In a child: have `signum` sent to it when `parent_pid`, the process (its thread, see above) that forked it,
    dies. The child ends at once if that parent is already gone."""
    if _prctl is None:
        return
    _set_death_signal(signum)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def _set_death_signal(signum: int) -> None:
    """PR_SET_PDEATHSIG for the calling process; 0 clears it."""
    assert _prctl is not None
    if _prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")


def dies_with_this_process(signum: int = SUPERVISED_EXIT_SIGNAL) -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen: the child is sent `signum` when this process dies. None (no binding)
    when called off the main thread: the child would be signalled when that thread ends, which is no one's intent."""
    if _prctl is None:
        return None
    if threading.current_thread() is not threading.main_thread():
        logger.warning("a child started off the main thread is not bound to this process's lifetime")
        return None
    return partial(die_with_parent, signum, os.getpid())  # this process's pid, taken before the fork


# The worker's main process, recorded there before its pool starts; each pool process inherits it with this module.
_worker_main_pid: int | None = None


def remember_worker_main() -> None:
    """In a Celery worker's main process, before its pool starts (a `worker_init` handler)."""
    global _worker_main_pid
    _worker_main_pid = os.getpid()


def die_with_worker_main() -> None:
    """In a Celery pool process (a `worker_process_init` handler): SIGKILL it when the worker's main process dies,
    and only then.

    Celery's initializer has already asked for PR_SET_PDEATHSIG(SIGKILL) just before; this adds what that lacks: the
    main process may have died while this one was starting, and a pool process forked by another thread than the
    main one must not be bound to that thread.
    """
    # Recorded before the fork (remember_worker_main); os.getppid() here would already name another process if the
    # main process died while this one was starting.
    parent = _worker_main_pid or os.getppid()
    if _prctl is None:
        return
    # After a fork Python keeps the forking thread's Thread object: "MainThread" only if the main thread forked.
    # Replacements for pool processes that died or retired are forked by billiard's supervisor thread, which ends
    # when the pool closes, in the middle of a warm shutdown: bound to it, they were killed in the middle of their
    # task. They watch the main process's pid instead.
    if threading.current_thread().name == "MainThread":
        die_with_parent(POOL_EXIT_SIGNAL, parent)
    else:
        _set_death_signal(0)
        threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_WATCH_INTERVAL)
    os.kill(os.getpid(), POOL_EXIT_SIGNAL)
