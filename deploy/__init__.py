"""Deploying the service: the AWS resources it needs (queues, buckets) and the IAM policies of its hosts (iam/)."""
