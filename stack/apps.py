from django.apps import AppConfig


class StackConfig(AppConfig):
    """The local stack: queue provisioning, the embedded AWS endpoint and the `runstack` supervisor."""

    name = "stack"
