"""The soak's verdict: what the database, the callers and the faults say together, as the table's rows, the problems
that set the exit status, and the details that help to read them."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from bench.soak_chaos import Chaos, survivors
from bench.soak_load import Load

# What `classifier.results.recording` logs when a repeated result changes nothing.
IGNORED_DUPLICATE = re.compile(r"duplicate result for ([0-9a-f-]{36}) ignored")


def ignored_results(consumer_log: Path) -> Counter[str]:
    """How many repeated results the results consumer ignored, by request id (its log is appended across restarts)."""
    if not consumer_log.exists():
        return Counter()
    with consumer_log.open(encoding="utf-8", errors="replace") as log:
        return Counter(match[1] for line in log if (match := IGNORED_DUPLICATE.search(line)))


def account(
    load: Load, chaos: Chaos, sync_wait: float, consumer_log: Path
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The table's rows, the problems that set the exit status, and details that help to read them."""
    from classifier.models import Classification, Status
    from common.percentiles import percentiles

    rows = {str(row["id"]): row for row in Classification.objects.values(
        "id", "status", "error", "result_deliveries", "dispatches", "dispatched_at", "worker", "created_at",
        "recorded_at")}  # fmt: skip
    sync = [call for call in load.calls if call.kind == "sync"]
    batches = [call for call in load.calls if call.kind == "async"]
    async_ids = {request_id for call in batches for request_id in call.ids}
    sync_accepted = sum(call.status in (200, 504) for call in sync)
    done = [row for row in rows.values() if row["status"] == Status.DONE]
    failed = Counter(row["error"][:100] for row in rows.values() if row["status"] == Status.FAILED)
    lost = [row for row in rows.values() if row["status"] not in (Status.DONE, Status.FAILED)]
    missing = sorted(async_ids - rows.keys())  # answered 202, yet no row
    redelivered = [row for row in rows.values() if row["result_deliveries"] > 1]
    ignored = ignored_results(consumer_log)
    duplicated = [row for row in redelivered if ignored[str(row["id"])] < row["result_deliveries"] - 1]
    refused = [call for call in load.calls if call.status == 503]
    in_cut = [call for call in refused if chaos.in_cut(call)]
    outside_cut = [call for call in refused if not chaos.in_cut(call)]
    other_5xx = [call for call in load.calls if call.status >= 500 and call.status != 503 and call.kind == "async"]
    other_5xx += [call for call in sync if call.status >= 500 and call.status not in (503, 504)]
    no_answer = [call for call in load.calls if call.status == 0]
    client_errors = [call for call in load.calls if 400 <= call.status < 500]
    past_wait = [call for call in sync if call.status == 504 or call.seconds > sync_wait]
    slowest = max(load.calls, key=lambda call: call.seconds, default=None)
    turnaround = [(row["recorded_at"] - row["created_at"]).total_seconds() for row in done]
    on_timeline = chaos.timeline.wall_started
    outlived = survivors(chaos.orphans)  # seconds after the last kill at the least: each should be long gone

    answers = Counter(f"{call.kind} {call.status}" for call in load.calls)
    table = [
        ("accepted", f"{len(rows)} rows ({sync_accepted} sync answered 200/504, {len(async_ids)} async in "
                     f"{sum(call.status == 202 for call in batches)} batches answered 202)"),
        ("done", f"{len(done)}"),
        ("failed", f"{sum(failed.values())}" + "".join(f"\n    {n} x {reason}" for reason, n in failed.items())),
        ("lost", f"{len(lost) + len(missing)}" + (f" ({len(missing)} answered 202 with no row)" if missing else "")),
        ("duplicated (recorded twice)", f"{len(duplicated)}"),
        ("redelivered, recorded once", f"{len(redelivered) - len(duplicated)} (a worker killed between its result "
                                       "and its delete: SQS delivers at least once)"),
        ("503 while the database was cut", f"{len(in_cut)} ({sum(call.images for call in in_cut)} images refused)"),
        # Rows beyond what 200, 202 and 504 answers account for: kept from a refused upload (a failed COMMIT that went
        # through, or an error after it); each still owes a result like any other.
        ("rows with no accepted answer", f"{len(rows) - len(async_ids & rows.keys()) - sync_accepted}"),
        ("503 outside the cut", f"{len(outside_cut)}"),
        ("other 5xx / no answer", f"{len(other_5xx)} / {len(no_answer)}"),
        ("4xx", f"{len(client_errors)}"),
        (f"sync callers past {sync_wait:g} s", f"{len(past_wait)} (of {len(sync)})"),
        ("slowest caller", f"{slowest.seconds:.1f} s ({slowest.kind}, {slowest.status}, at {slowest.started:.0f} s)"
                           if slowest else "-"),
        ("turnaround (done)", "p50 {:.1f} s, p95 {:.1f} s, max {:.1f} s".format(*percentiles(turnaround, [50, 95, 100]))
                              if turnaround else "-"),
        ("answers", ", ".join(f"{key}: {n}" for key, n in sorted(answers.items()))),
        ("stack processes that exited", ", ".join(chaos.unexpected) or "0"),
        ("pool processes outliving their worker", f"{len(outlived)}"),
    ]  # fmt: skip
    problems = [name for name, count in (
        ("lost", len(lost) + len(missing)), ("duplicated", len(duplicated)), ("503 outside the cut", len(outside_cut)),
        ("other 5xx", len(other_5xx)), ("no answer", len(no_answer)), ("4xx", len(client_errors)),
        ("sync callers past the wait", len(past_wait)), ("stack processes that exited", len(chaos.unexpected)),
        ("pool processes outliving their worker", len(outlived)),
    ) if count]  # fmt: skip
    details = [f"lost {row['id']}: {row['status']}, {row['dispatches']} send(s), last at "
               f"{row['dispatched_at'].timestamp() - on_timeline:.1f} s, worker {row['worker'] or '-'}"
               for row in lost[:10]]  # fmt: skip
    details += [f"answered 202, no row: {request_id}" for request_id in missing[:10]]
    details += [f"duplicated {row['id']}: {row['result_deliveries']} results, {ignored[str(row['id'])]} ignored"
                for row in duplicated[:10]]  # fmt: skip
    details += [f"redelivered {row['id']}: {row['result_deliveries']} results, the first recorded ({row['worker']})"
                for row in redelivered[:10] if row not in duplicated]  # fmt: skip
    slow = sorted(done, key=lambda row: row["recorded_at"] - row["created_at"], reverse=True)[:3]
    details += [f"slow {row['id']}: accepted at {row['created_at'].timestamp() - on_timeline:.1f} s, recorded at "
                f"{row['recorded_at'].timestamp() - on_timeline:.1f} s, {row['dispatches']} send(s), last at "
                f"{row['dispatched_at'].timestamp() - on_timeline:.1f} s, worker {row['worker']}"
                for row in slow]  # fmt: skip
    odd = past_wait + outside_cut + other_5xx + no_answer + client_errors
    details += [f"{call.kind} {call.status} at {call.started:.1f}-{call.ended:.1f} s: {call.text[:160]!r}"
                for call in sorted(odd, key=lambda call: call.started)[:20]]  # fmt: skip
    return table, problems, details
