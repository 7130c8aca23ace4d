import json
import os

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
