"""Where workers come from: one small protocol (list, launch, terminate) and its implementations."""

from autoscale.providers.base import Instance, InstanceState, LaunchError, Provider

__all__ = ["Instance", "InstanceState", "LaunchError", "Provider"]
