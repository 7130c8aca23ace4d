"""A worker retires after WORKER_IDLE_SECONDS without work, and never while short tasks keep arriving."""

from __future__ import annotations

import threading
import time

from celery.worker import state as worker_state

from autoscale import retire


def _watching(monkeypatch, idle_seconds: float) -> tuple[retire.RetireWhenIdle, list[int]]:
    signals: list[int] = []
    monkeypatch.setattr(retire.os, "kill", lambda pid, signum: signals.append(signum))
    step = retire.RetireWhenIdle(None)
    step.idle_seconds = idle_seconds
    threading.Thread(target=step._watch, daemon=True).start()
    return step, signals


def test_tasks_too_short_to_be_seen_running_still_keep_the_worker(monkeypatch) -> None:
    step, signals = _watching(monkeypatch, idle_seconds=1.0)
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # a 50 ms task every 0.2 s: never running when the watch looks
            worker_state.all_total_count[0] += 1
            time.sleep(0.2)
        assert signals == []
        time.sleep(2.0)  # then nothing for longer than the idle time
        assert len(signals) == 1
    finally:
        step.stop(None)


def test_a_retiring_worker_leaves_its_mark_before_it_asks_to_stop(monkeypatch, tmp_path) -> None:
    """What runs it (the EC2 unit) powers the instance off only after a retirement, never after a plain stop."""
    marker = tmp_path / "retired"
    seen_at_signal: list[bool] = []
    monkeypatch.setattr(retire.os, "kill", lambda pid, signum: seen_at_signal.append(marker.exists()))
    step = retire.RetireWhenIdle(None)
    step.idle_seconds, step.retired_file = 0.5, str(marker)
    watch = threading.Thread(target=step._watch, daemon=True)
    watch.start()
    watch.join(timeout=5)
    assert seen_at_signal == [True]
    assert marker.read_text().isdigit()
