"""What a results announcement carries, and what a listener takes from one."""

from __future__ import annotations

import asyncio
import json

from classifier.results import announce
from classifier.results.wakeup import Listener

ANSWER = {"id": "5f0c8b1e-0000-4000-8000-000000000001", "status": "done", "label": "goldfish", "error": "",
          "original_name": "a.jpg"}  # fmt: skip


def test_a_signed_announcement_carries_its_host_and_answers() -> None:
    host, answers = announce.read(announce.payload([ANSWER]))
    assert (host, answers) == (announce.this_host(), [ANSWER])


def test_one_too_large_for_postgresql_asks_only_for_a_look() -> None:
    many = [dict(ANSWER, original_name="x" * 200) for _ in range(60)]
    text = announce.payload(many)
    assert len(text.encode()) < 8000
    assert announce.read(text) == (announce.this_host(), None)


def test_unsigned_or_tampered_announcements_carry_no_answers() -> None:
    text = announce.payload([ANSWER])
    signature, _, body = text.partition(".")
    forged = json.loads(body)
    forged["answers"][0]["label"] = "a forged label"
    assert announce.read(signature + "." + json.dumps(forged)) == ("", None)
    assert announce.read(json.dumps({"host": "h", "answers": [ANSWER]})) == ("", None)


def test_answers_from_this_host_are_left_to_the_datagram_others_are_taken() -> None:
    async def run() -> tuple[list, bool, list, bool]:
        listener = Listener()
        listener.start()
        database = announce.DatabaseListener(listener)
        try:
            database._take(announce.payload([ANSWER]))  # our own host: the datagram brought it
            own = listener.take()
            other = dict(ANSWER, label="from elsewhere")
            body = json.dumps({"host": "another-host:/var/lib/classifier/run", "answers": [other]},
                              separators=(",", ":"))  # fmt: skip
            database._take(announce._signed(body))
            return [*own, *listener.take()]
        finally:
            listener.close()

    own_answers, own_look, other_answers, other_look = asyncio.run(run())
    assert (own_answers, own_look) == ([], False)
    assert other_answers[0]["label"] == "from elsewhere" and not other_look
