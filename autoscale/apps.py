from django.apps import AppConfig


class AutoscaleConfig(AppConfig):
    name = "autoscale"
    verbose_name = "Autoscaler"
