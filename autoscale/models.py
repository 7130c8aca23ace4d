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


class FleetSample(models.Model):
    """The queue and the fleet as the autoscaler saw them at one tick, written every tick (not only on changes).

    ScalingEvents say when the fleet changed; these say what it looked like in between, so the status page can draw
    queue depth and fleet size over time. The autoscaler deletes samples past a retention period itself
    (autoscale/fleet_log.py), so the table stays bounded.
    """

    time = models.DateTimeField(db_index=True)
    provider = models.CharField(max_length=16)
    visible = models.PositiveIntegerField(help_text="Messages waiting in the classify queue.")
    in_flight = models.PositiveIntegerField(help_text="Messages a worker holds (not visible).")
    running = models.PositiveIntegerField()
    pending = models.PositiveIntegerField(help_text="Launched, not yet taking work.")
    desired = models.PositiveIntegerField()
    policy = models.CharField(max_length=16, blank=True)
    # What the latency policy believed at this tick (empty for the policies that estimate nothing).
    service_seconds = models.FloatField(null=True, blank=True, help_text="One worker's seconds per message.")
    boot_seconds = models.FloatField(null=True, blank=True, help_text="Launch to taking work.")
    arrival_rate = models.FloatField(null=True, blank=True, help_text="Messages per second arriving.")
    reason = models.CharField(max_length=200, blank=True, help_text="Why this many workers.")

    class Meta:
        ordering = ["-time"]

    def __str__(self) -> str:
        return (
            f"{self.time:%Y-%m-%d %H:%M:%S} {self.visible}+{self.in_flight} msgs, {self.running}+{self.pending} workers"
        )
