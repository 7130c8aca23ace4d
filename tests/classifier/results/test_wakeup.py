"""The nudge's datagram: answers from a sender of this process's user are taken; anything else only says "look"."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from classifier.results import wakeup
from classifier.results.wakeup import Listener, nudge_waiters

ANSWER = {"id": "5d3c2a54-8d5e-4e62-a4b1-0c8e33b5a0d1", "status": "done", "label": "goldfish", "error": "",
          "original_name": "d.jpg"}  # fmt: skip


@pytest.fixture
def folder(settings) -> Iterator[Path]:
    """A wakeup folder another user may reach (pytest's own temporary folders are private to this user)."""
    path = Path(tempfile.mkdtemp(prefix="wakeup-"))
    path.chmod(0o777)
    settings.RESULT_WAKEUP_DIR = str(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _heard(send) -> tuple[list, bool]:
    """What one listener takes after `send(socket_path)` has run in a thread."""

    async def scenario() -> tuple[list, bool]:
        listener = Listener()
        assert listener.start()
        try:
            await asyncio.to_thread(send, Path(listener.path))
            await asyncio.wait_for(listener.woken.wait(), 5)
            return listener.take()
        finally:
            listener.close()

    return asyncio.run(scenario())


def test_answers_from_the_consumer_are_taken_and_a_plain_nudge_asks_for_a_look(folder) -> None:
    assert _heard(lambda _: nudge_waiters([ANSWER])) == ([ANSWER], False)
    assert _heard(lambda _: nudge_waiters()) == ([], True)


def test_a_datagram_that_is_not_a_list_of_answers_only_asks_for_a_look(folder) -> None:
    import socket

    for junk in (b"not json", b'{"id": "x"}', b'[{"id": 5}]', b"[1, 2]"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            assert _heard(lambda path, junk=junk, sender=sender: sender.sendto(junk, str(path))) == ([], True)


def test_too_many_answers_for_one_datagram_go_as_a_plain_nudge(folder, monkeypatch) -> None:
    monkeypatch.setattr(wakeup, "MAX_DATAGRAM", 200)
    assert _heard(lambda _: nudge_waiters([ANSWER] * 5)) == ([], True)


@pytest.mark.skipif(os.geteuid() != 0, reason="sending as another user needs root")
def test_answers_from_another_user_are_not_taken(folder) -> None:
    """The kernel says who sent a datagram (SO_PASSCRED): another user on the host cannot hand a caller a label."""
    script = (
        "import json, os, socket, sys; os.setgid(65534); os.setuid(65534); "
        "socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(json.dumps([json.loads(sys.argv[2])]).encode(), "
        "sys.argv[1])"
    )

    def send_as_nobody(path: Path) -> None:
        path.chmod(0o777)
        subprocess.run([sys.executable, "-c", script, str(path), wakeup.json.dumps(ANSWER)], check=True, timeout=30)

    assert _heard(send_as_nobody) == ([], True)


def test_where_the_kernel_cannot_say_who_sent_a_datagram_every_nudge_only_asks_for_a_look(folder, monkeypatch) -> None:
    """macOS has no SO_PASSCRED: a developer's `make run` there still answers every caller, by looking."""
    monkeypatch.setattr(wakeup, "_VOUCHED", False)
    assert _heard(lambda _: nudge_waiters([ANSWER])) == ([], True)
