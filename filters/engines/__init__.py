"""Executors. An engine runs jobs (see `filters.jobs`) and yields their results as they finish; it
knows nothing of the steps inside them, which are the same in every engine."""

from .local import LocalEngine

__all__ = ["LocalEngine", "RayEngine"]


def __getattr__(name):
    if name == "RayEngine":  # Ray is an optional extra
        from .ray_engine import RayEngine

        return RayEngine
    raise AttributeError(name)
