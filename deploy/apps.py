from django.apps import AppConfig


class DeployConfig(AppConfig):
    """`manage.py provision`: the queues and buckets, in AWS or on the embedded endpoint."""

    name = "deploy"
