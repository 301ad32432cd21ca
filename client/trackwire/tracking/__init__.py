"""`from trackwire.tracking import TrackwireClient`, as `from mlflow.tracking import MlflowClient`."""

from trackwire.client import TrackwireClient

__all__ = ["TrackwireClient"]
