from django.apps import AppConfig


class StackConfig(AppConfig):
    """The service on one machine: the embedded AWS endpoint, the `runstack` supervisor, the load generator."""

    name = "stack"
