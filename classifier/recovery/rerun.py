"""Re-running failed requests: an operator's decision (the admin's action), after fixing what made them fail."""

from __future__ import annotations

from django.utils import timezone

from classifier import dispatch
from classifier.models import Classification, Status


def rerun_failed(rows: list[Classification]) -> int:
    """Queue failed requests again. Returns how many went (one that is no longer failed is left alone)."""
    sent = 0
    for row in rows:
        if Classification.objects.filter(pk=row.pk, status=Status.FAILED).requeue(timezone.now()):
            dispatch.send_for_classification(row)
            sent += 1
    return sent
