"""Run artifacts: where they may live (`locations`) and how they are read and written."""

from trackwire_server.artifacts.locations import ArtifactLocations
from trackwire_server.artifacts.repository import ArtifactRepository

__all__ = ["ArtifactLocations", "ArtifactRepository"]
