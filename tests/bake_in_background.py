"""The worker-image bake that tests/deploy/test_bake.py checks takes about two minutes, nearly all of it building a
virtual environment. It starts as soon as collection says that test will run, at the lowest CPU and I/O priority
(nice 19, idle I/O class), so it proceeds in the time the integration tests spend waiting on timeouts and polls
instead of adding its two minutes to the suite's. Stopped by its process group, and its files removed, at the end
of the session, whatever happened."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BAKE = Path(__file__).resolve().parent.parent / "deploy" / "worker" / "bake.sh"


@dataclass
class BackgroundBake:
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls) -> BackgroundBake:
        root = Path(tempfile.mkdtemp(prefix="baked-image-"))
        log = root.with_name(root.name + ".log")
        with log.open("wb") as output:
            lowest_priority = ["nice", "-n", "19", "ionice", "-c", "3"]
            process = subprocess.Popen([*lowest_priority, "bash", str(BAKE), "--root", str(root)], stdout=output,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)  # fmt: skip
        return cls(root, log, process)

    def wait(self, timeout: float) -> Path:
        """The baked root once the bake has finished; AssertionError with the bake's output if it failed."""
        code = self.process.wait(timeout=timeout)
        assert code == 0, self.log.read_text(errors="replace")[-4000:]
        return self.root

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        self.log.unlink(missing_ok=True)
