"""How the service status looks in JSON (GET /api/status)."""

from __future__ import annotations

from rest_framework import serializers


class StatusWindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    minutes = serializers.FloatField()


class QueueDepthSerializer(serializers.Serializer):
    available = serializers.BooleanField(help_text="False when SQS could not be asked; `error` says why.")
    waiting = serializers.IntegerField(allow_null=True, help_text="Classify messages waiting for a worker.")
    in_flight = serializers.IntegerField(allow_null=True, help_text="Classify messages a worker holds now.")
    dead_letters = serializers.IntegerField(allow_null=True, help_text="Messages in the dead-letter queue.")
    error = serializers.CharField(allow_blank=True)


class FleetNowSerializer(serializers.Serializer):
    reported = serializers.BooleanField(help_text="False when no autoscaler has written a sample yet.")
    message = serializers.CharField(allow_blank=True, help_text="Why the figures are missing or old, if they are.")
    provider = serializers.CharField(allow_blank=True)
    sampled_at = serializers.DateTimeField(allow_null=True, help_text="The autoscaler's latest tick.")
    age_seconds = serializers.FloatField(allow_null=True)
    stale = serializers.BooleanField(help_text="The latest sample is older than a few ticks.")
    running = serializers.IntegerField(allow_null=True)
    pending = serializers.IntegerField(allow_null=True, help_text="Launched, not yet taking work.")
    desired = serializers.IntegerField(allow_null=True)
    policy = serializers.CharField(allow_blank=True, help_text="step, target or latency.")
    service_seconds = serializers.FloatField(
        allow_null=True, help_text="The latency policy's estimate of one worker's seconds per message."
    )
    boot_seconds = serializers.FloatField(allow_null=True, help_text="Its estimate of launch to taking work.")
    arrival_rate = serializers.FloatField(allow_null=True, help_text="Its estimate of messages arriving per second.")
    reason = serializers.CharField(allow_blank=True, help_text="Why it wants `desired` workers.")


class LatencyPercentilesSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class StatusCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    expired = serializers.IntegerField()


class RequestStatsSerializer(serializers.Serializer):
    finished = serializers.IntegerField(help_text="Done, failed or expired, recorded within the window.")
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    expired = serializers.IntegerField(help_text="Their time to live ended before a worker took them.")
    throughput_per_minute = serializers.FloatField(help_text="Finished requests per minute over the window.")
    by_status = StatusCountsSerializer(help_text="Requests received within the window, by their status now.")
    turnaround_seconds = LatencyPercentilesSerializer(source="turnaround", help_text="Upload to recorded result.")
    queue_wait_seconds = LatencyPercentilesSerializer(source="queue_wait", help_text="Upload to a worker starting.")
    latency_rows = serializers.IntegerField(help_text="Done requests the percentiles were computed from.")
    latency_capped = serializers.BooleanField(help_text="True when only the newest of the window's results count.")


class FleetPointSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    visible = serializers.IntegerField()
    in_flight = serializers.IntegerField()
    running = serializers.IntegerField()
    pending = serializers.IntegerField()


class FleetMarkerSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    action = serializers.ChoiceField(choices=["launch", "terminate", "error"])
    count = serializers.IntegerField(help_text="Instances launched or terminated.")


class FleetChartSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    points = FleetPointSerializer(many=True, help_text="The autoscaler's samples, oldest first.")
    markers = FleetMarkerSerializer(many=True, help_text="Fleet changes (ScalingEvents), oldest first.")
    stride = serializers.IntegerField(help_text="1: every sample; n: every n-th, the newest always included.")
    truncated = serializers.BooleanField(help_text="Too many samples: the oldest are left out.")


class ServiceStatusSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    window = StatusWindowSerializer(help_text="The span the request figures cover.")
    queue = QueueDepthSerializer()
    fleet = FleetNowSerializer(help_text="From the autoscaler's latest sample.")
    requests = RequestStatsSerializer()
    chart = FleetChartSerializer(help_text="Queue depth and fleet size over the last hour.")
