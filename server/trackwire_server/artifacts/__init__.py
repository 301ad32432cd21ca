"""Artifact storage on any fsspec filesystem, one rooted view per run."""

from trackwire_server.artifacts.repository import ArtifactRepository, check_relative_path

__all__ = ["ArtifactRepository", "check_relative_path"]
