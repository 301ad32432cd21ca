"""Artifact URIs: resolve `runs:/`, `models:/`, `file://` and local paths, and download them.

    trackwire.artifacts.download_artifacts("models:/ChurnPredictor@champion", dst_path="out")

URIs understood (as MLflow's):
- `runs:/<run_id>/<path>`: a file or folder of a run's artifacts;
- `models:/<name>/<version>`: the files of a model version (`models:/Churn/3`);
- `models:/<name>/<stage>`: the latest version in that stage (`models:/Churn/Production`);
- `models:/<name>/latest`: the latest version, whatever its stage;
- `models:/<name>@<alias>`: the version an alias points at (`models:/Churn@champion`);
- `file:///abs/path` and plain local paths: local files, used as they are.

Everything but local files is read through the server's ArtifactService, so a client
needs no access to the artifact storage itself.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass

from trackwire import errors
from trackwire_protocol import naming

RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:/"
STAGES = ("None", "Staging", "Production", "Archived")


@dataclass(frozen=True)
class ResolvedArtifact:
    """Where an artifact URI's files are: a run's artifact path, or a local path."""

    run_id: str | None = None  # set for run artifacts (runs:/ and models:/ URIs)
    path: str = ""  # inside the run's artifacts, '/'-separated ("" is the whole run)
    local_path: str | None = None  # set for file:// URIs and local paths
    # for models:/ URIs: the model version it resolved to
    model_name: str | None = None
    model_version: str | None = None


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """(run_id, path) of `runs:/<run_id>/<path>`; InvalidArgumentError if it is not one."""
    if not uri.startswith(RUNS_SCHEME):
        raise errors.InvalidArgumentError(f"'{uri}' is not a runs:/<run_id>/<path> URI")
    rest = uri[len(RUNS_SCHEME) :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise errors.InvalidArgumentError(f"'{uri}' names no run id: use runs:/<run_id>/<path>")
    with errors.names_checked():  # the server's rules: percent-decoded '..' is refused too
        naming.check_run_id(f"run id of '{uri}'", run_id)
        return run_id, naming.check_relative_path(f"path of '{uri}'", path, allow_empty=True)


def parse_models_uri(uri: str) -> tuple[str, str, str]:
    """(name, kind, value) of a models:/ URI, kind one of "version", "stage", "latest", "alias"."""
    if not uri.startswith(MODELS_SCHEME):
        raise errors.InvalidArgumentError(f"'{uri}' is not a models:/ URI")
    rest = uri[len(MODELS_SCHEME) :].strip("/")
    # models:/<name>@<alias> (the name holds no '/' nor '@'-suffix ambiguity: split at the last '@')
    if "/" not in rest and "@" in rest:
        name, _, alias = rest.rpartition("@")
        if not name or not alias:
            raise errors.InvalidArgumentError(f"'{uri}' is not models:/<name>@<alias>")
        return name, "alias", alias
    name, _, suffix = rest.partition("/")
    if not name or not suffix or "/" in suffix:
        raise errors.InvalidArgumentError(
            f"'{uri}' is not models:/<name>/<version|stage|latest> nor models:/<name>@<alias>"
        )
    if suffix.isdigit():
        return name, "version", suffix
    if suffix.lower() == "latest":
        return name, "latest", suffix
    for stage in STAGES:
        if suffix.lower() == stage.lower():
            return name, "stage", stage
    raise errors.InvalidArgumentError(
        f"'{uri}': '{suffix}' is neither a version number, 'latest', nor a stage "
        f"({', '.join(STAGES)})"
    )


def model_version_files(client, version) -> tuple[str, str]:
    """(run_id, path) of a model version's files in its run's artifacts.

    The server accepts only sources inside the run's artifacts: `runs:/<run_id>/<path>`
    or a URI under the run's artifact URI.
    """
    if version.source.startswith(RUNS_SCHEME):
        return parse_runs_uri(version.source)
    root = client.get_run(version.run_id).info.artifact_uri.rstrip("/")
    if version.source.rstrip("/") == root:
        return version.run_id, ""
    if not version.source.startswith(root + "/"):
        raise errors.InvalidArgumentError(
            f"model version source '{version.source}' is outside run {version.run_id}'s artifacts"
        )
    return version.run_id, version.source[len(root) + 1 :].strip("/")


def _client(tracking_uri: str | None):
    from trackwire import fluent
    from trackwire.client import TrackwireClient

    if tracking_uri is None:
        return fluent._client()
    return TrackwireClient(tracking_uri)


def resolve(artifact_uri: str, tracking_uri: str | None = None, client=None) -> ResolvedArtifact:
    """Where the files of `artifact_uri` are; models:/ URIs are resolved on the server
    (NotFoundError if the model, version, stage or alias has none), through `client` if
    given, else a client of `tracking_uri`."""
    if artifact_uri.startswith(RUNS_SCHEME):
        run_id, path = parse_runs_uri(artifact_uri)
        return ResolvedArtifact(run_id=run_id, path=path)
    if artifact_uri.startswith(MODELS_SCHEME):
        client = client or _client(tracking_uri)
        name, kind, value = parse_models_uri(artifact_uri)
        if kind == "version":
            version = client.get_model_version(name, value)
        elif kind == "alias":
            version = client.get_model_version_by_alias(name, value)
        else:
            stages = None if kind == "latest" else [value]
            latest = client.get_latest_versions(name, stages)
            if not latest:
                where = "" if kind == "latest" else f" in stage '{value}'"
                raise errors.NotFoundError(f"registered model '{name}' has no version{where}")
            version = max(latest, key=lambda v: int(v.version))
        run_id, path = model_version_files(client, version)
        return ResolvedArtifact(
            run_id=run_id, path=path, model_name=version.name, model_version=str(version.version)
        )
    if artifact_uri.startswith("file:"):
        parsed = urllib.parse.urlparse(artifact_uri)
        if parsed.netloc not in ("", "localhost"):
            raise errors.InvalidArgumentError(f"'{artifact_uri}' is not a local file:// URI")
        return ResolvedArtifact(local_path=urllib.request.url2pathname(parsed.path))
    if "://" in artifact_uri or artifact_uri.startswith(("runs:", "models:")):
        raise errors.InvalidArgumentError(
            f"'{artifact_uri}' is not runs:/, models:/, file:// nor a local path"
        )
    return ResolvedArtifact(local_path=artifact_uri)


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Downloads a file or folder and returns its local path (MLflow's signature).

    Give either `artifact_uri` (runs:/, models:/, file:// or a local path), or `run_id`
    with an optional `artifact_path`. Local files are returned where they are unless
    `dst_path` is given, in which case they are copied there.
    """
    if artifact_uri is not None and (run_id is not None or artifact_path is not None):
        raise errors.InvalidArgumentError(
            "give either artifact_uri, or run_id with artifact_path, not both"
        )
    if artifact_uri is None:
        if run_id is None:
            raise errors.InvalidArgumentError("give artifact_uri or run_id")
        resolved = ResolvedArtifact(run_id=run_id, path=(artifact_path or "").strip("/"))
    else:
        resolved = resolve(artifact_uri, tracking_uri)
    if resolved.local_path is not None:
        source = os.path.abspath(resolved.local_path)
        if not os.path.exists(source):
            raise errors.NotFoundError(f"local path '{source}' does not exist")
        if dst_path is None:
            return source
        os.makedirs(dst_path, exist_ok=True)
        target = os.path.join(os.path.abspath(dst_path), os.path.basename(source.rstrip(os.sep)))
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        return target
    if dst_path is None:
        import tempfile

        dst_path = tempfile.mkdtemp(prefix="trackwire-download-")
    os.makedirs(dst_path, exist_ok=True)
    return _client(tracking_uri).download_artifacts(resolved.run_id, resolved.path, dst_path)


__all__ = [
    "ResolvedArtifact",
    "download_artifacts",
    "model_version_files",
    "parse_models_uri",
    "parse_runs_uri",
    "resolve",
]
