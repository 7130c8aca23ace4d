"""Children that die with their parent: real processes, the parent SIGKILLed, the child gone within seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from common.lifetime import dies_with_this_process
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")


def alive(pid: int) -> bool:
    """Running, not merely a zombie nobody has reaped yet (the child's new parent may not reap at once)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def start_parent(script: str, *args: str) -> tuple[subprocess.Popen[str], list[int]]:
    """A python process running `script`, which prints the pids of the children it started on one line."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    assert parent.stdout is not None
    line = parent.stdout.readline()
    assert line, f"the parent exited with {parent.wait()} before starting its children"
    return parent, [int(pid) for pid in line.split()]


def kill_all(parent: subprocess.Popen[str], pids: list[int]) -> None:
    parent.kill()
    parent.wait()
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


SLEEPER = '[sys.executable, "-c", "import time; time.sleep(120)"]'


def test_a_child_started_through_popen_dies_when_its_parent_is_sigkilled() -> None:
    parent, pids = start_parent(f"""
        import subprocess, sys, time
        from common.lifetime import dies_with_this_process
        child = subprocess.Popen({SLEEPER}, preexec_fn=dies_with_this_process(), start_new_session=True)
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    try:
        assert alive(pids[0])
        os.kill(parent.pid, signal.SIGKILL)
        assert wait_gone(pids, timeout=3) == []
    finally:
        kill_all(parent, pids)


def test_a_child_whose_parent_is_already_gone_ends_at_once() -> None:
    """The race the prctl call cannot close alone: the parent died between the fork and the call."""
    child = subprocess.run(
        [sys.executable, "-c", "from common.lifetime import die_with_parent; die_with_parent(15, 1); print('ran')"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL
    assert "ran" not in child.stdout


def test_off_the_main_thread_a_child_is_not_bound_to_that_thread() -> None:
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(dies_with_this_process()))
    thread.start()
    thread.join()
    assert found == [None]


POOL = """
    import os, sys, time, traceback
    from billiard.pool import Pool
    from celery.platforms import set_pdeathsig
    from common.lifetime import die_with_worker_main

    def initializer():
        set_pdeathsig("SIGKILL")  # what Celery's own initializer does before worker_process_init
        die_with_worker_main()

    def work(seconds):
        time.sleep(seconds)
        return os.getpid()

    def main(size, then):
        # threads=True, as in our workers (their transport is synchronous). maxtasksperchild=1: a process exits
        # after one task and billiard's supervisor thread forks its replacement.
        pool = Pool(size, initializer=initializer, threads=True, maxtasksperchild=1)
        originals = {process.pid for process in pool._pool}
        done = pool.apply_async(work, (0,)).get(timeout=30)
        while not (replacements := {process.pid for process in pool._pool} - originals):
            time.sleep(0.1)
        time.sleep(1)  # the replacement's initializer has run
        print(*(originals - {done}), *replacements, flush=True)
        if then == "close":
            # A warm shutdown: the pool closes, so its supervisor thread ends, while the replacement works.
            running = pool.apply_async(work, (2,))
            time.sleep(0.5)
            pool.close()
            print(running.get(timeout=30), flush=True)
            pool.join()
        time.sleep(120)

    if __name__ == "__main__":
        try:
            main(int(sys.argv[1]), sys.argv[2])
        except BaseException:
            traceback.print_exc()
            os._exit(1)  # the pool's threads would keep a failed script alive
"""


def test_pool_processes_die_when_the_worker_main_process_is_sigkilled() -> None:
    """The first pool process was forked by the main thread (PR_SET_PDEATHSIG), the second, a replacement, by
    billiard's supervisor thread (it watches its parent instead)."""
    parent, pids = start_parent(POOL, "2", "wait")
    try:
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        os.kill(parent.pid, signal.SIGKILL)
        assert wait_gone(pids, timeout=3) == []
    finally:
        kill_all(parent, pids)


def test_a_replacement_pool_process_finishes_its_task_when_the_pool_closes() -> None:
    """Bound to the supervisor thread that forked it, it would be killed when that thread ends at the pool's close."""
    parent, pids = start_parent(POOL, "1", "close")
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().split() == [str(pids[0])]  # the task ran to its end, in the same process
    finally:
        kill_all(parent, pids)
