from __future__ import annotations

from django.db import models


class ScalingEvent(models.Model):
    """One autoscaler decision that changed (or tried to change) the fleet."""

    class Action(models.TextChoices):
        LAUNCH = "launch", "Launch"
        TERMINATE = "terminate", "Terminate"
        ERROR = "error", "Error"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    provider = models.CharField(max_length=16)
    policy = models.CharField(max_length=16)
    action = models.CharField(max_length=16, choices=Action.choices)
    visible = models.PositiveIntegerField()
    in_flight = models.PositiveIntegerField()
    running = models.PositiveIntegerField()
    pending = models.PositiveIntegerField()
    desired = models.PositiveIntegerField()
    instance_ids = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    dry_run = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {len(self.instance_ids)} ({self.running}+{self.pending} -> {self.desired})"
