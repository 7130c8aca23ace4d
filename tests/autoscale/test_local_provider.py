import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from autoscale.providers.local import LocalProvider
from tests.conftest import ROOT


def test_records_of_dead_or_reused_pids_are_forgotten(tmp_path) -> None:
    provider = LocalProvider(tmp_path, ROOT)
    # A record whose pid now belongs to another process (this test): not our worker.
    (tmp_path / "local-7.json").write_text(json.dumps({"id": "local-7", "pid": os.getpid(), "launched_at": 1.0,
                                                       "retires": True}))  # fmt: skip
    (tmp_path / "local-8.json").write_text(json.dumps({"id": "local-8", "pid": 2**22 + 1, "launched_at": 1.0,
                                                       "retires": True}))  # fmt: skip
    assert provider.instances() == []
    assert not list(tmp_path.glob("local-*.json"))


def test_ids_keep_counting_across_restarts(tmp_path) -> None:
    first = LocalProvider(tmp_path, ROOT)
    assert [first._next_id(), first._next_id()] == ["local-1", "local-2"]
    assert LocalProvider(tmp_path, ROOT)._next_id() == "local-3"  # a restarted autoscaler never reuses an id


def test_terminate_ignores_ids_it_never_launched(tmp_path) -> None:
    provider = LocalProvider(tmp_path, ROOT)
    (tmp_path / "local-5.json").write_text(json.dumps({"id": "local-5", "pid": os.getpid(), "launched_at": 1.0,
                                                       "retires": True}))  # fmt: skip
    provider.terminate(["local-404", "i-0123", "local-5"])  # local-5's pid is this test, not a worker: spared
    assert provider.instances() == []


def test_from_settings_keeps_the_fleet_under_var_dir(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path
    provider = LocalProvider.from_settings()
    assert (provider.state_dir, provider.queue) == (tmp_path / "autoscale", settings.CLASSIFY_QUEUE)
    assert provider.idle_seconds == settings.WORKER_IDLE_SECONDS
    assert provider.state_dir.is_dir()


def test_a_record_forgotten_by_another_process_midway_is_skipped(tmp_path, monkeypatch) -> None:
    """The autoscaler deletes a dead worker's record while a second reader (the supervisor) lists the folder."""
    provider = LocalProvider(tmp_path, ROOT)
    record = tmp_path / "local-9.json"
    record.write_text(json.dumps({"id": "local-9", "pid": 2**22 + 1, "launched_at": 1.0, "retires": True}))
    listed = sorted(tmp_path.glob("local-*.json"))
    record.unlink()  # gone after the listing, before the read
    monkeypatch.setattr(type(tmp_path), "glob", lambda self, pattern: iter(listed))
    assert provider.instances() == []
    provider.terminate(["local-9"])
    provider.stop_all(timeout=0)


def _start_ticks(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def test_a_live_process_with_the_workers_name_but_another_start_time_is_not_the_worker(tmp_path) -> None:
    """Its pid was reused by a process that happens to carry the same name (another stack's local-7, say)."""
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "local-7@elsewhere"])
    try:
        started = _start_ticks(impostor.pid)
        record = {"id": "local-7", "pid": impostor.pid, "launched_at": 1.0, "retires": True}
        (tmp_path / "local-7.json").write_text(json.dumps({**record, "started": started - 1}))
        provider = LocalProvider(tmp_path, ROOT)
        provider.terminate(["local-7"])
        assert provider.instances() == []
        assert not (tmp_path / "local-7.json").exists()
        assert impostor.poll() is None  # spared

        (tmp_path / "local-7.json").write_text(json.dumps({**record, "started": started}))  # now it is the worker
        assert [instance.id for instance in provider.instances()] == ["local-7"]
        provider.terminate(["local-7"])
        assert impostor.wait(timeout=10) == -signal.SIGTERM
    finally:
        impostor.kill()
        impostor.wait()


@pytest.mark.parametrize("text", ["", "{", '{"id": "local-3"}', '["local-3"]', '{"id": "local-3", "pid": "x"}'])
def test_an_unreadable_record_is_removed_not_obeyed(tmp_path, text) -> None:
    (tmp_path / "local-3.json").write_text(text)
    provider = LocalProvider(tmp_path, ROOT)
    assert provider.instances() == []
    assert not (tmp_path / "local-3.json").exists()
    provider.terminate(["local-3"])
    provider.stop_all(timeout=0)


def test_a_torn_counter_starts_above_every_id_in_the_folder(tmp_path) -> None:
    (tmp_path / "counter").write_text("")  # the autoscaler was killed while writing it
    (tmp_path / "local-4.log").write_text("an old worker's log\n")
    (tmp_path / "local-12.json.tmp").write_text("{")
    provider = LocalProvider(tmp_path, ROOT)
    assert [provider._next_id(), provider._next_id()] == ["local-13", "local-14"]
