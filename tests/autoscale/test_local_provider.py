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
