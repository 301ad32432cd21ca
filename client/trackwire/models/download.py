"""Where a model URI points: a local directory, downloading once into a cache.

`runs:/<run_id>/<path>` and `models:/<name>/<version|stage|latest>` (and
`models:/<name>@<alias>`) are downloaded from the tracking server into
TRACKWIRE_MODEL_CACHE (default ~/.cache/trackwire/models) once; a later load finds them
there. `file://` URIs and plain paths are used where they are, without a copy. URIs are
resolved by trackwire.artifacts (models:/ on the server's registry).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from trackwire.errors import InvalidArgumentError

CACHE_ENV = "TRACKWIRE_MODEL_CACHE"
_COMPLETE = ".trackwire-complete"


def cache_root() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "trackwire", "models"
    )


def _cached(key: str, fetch) -> str:
    """The cache directory for `key`, filled by `fetch(tmp_dir) -> local path` once."""
    target = os.path.join(cache_root(), hashlib.sha256(key.encode()).hexdigest()[:32])
    if os.path.exists(os.path.join(target, _COMPLETE)):
        with open(os.path.join(target, _COMPLETE)) as f:
            return os.path.join(target, f.read())
    os.makedirs(cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=cache_root())
    try:
        local = fetch(tmp)
        relative = os.path.relpath(local, tmp)
        with open(os.path.join(tmp, _COMPLETE), "w") as f:
            f.write(relative)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
        with open(os.path.join(target, _COMPLETE)) as f:
            return os.path.join(target, f.read())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def download_model(
    model_uri: str, dst_path: str | None = None, tracking_uri: str | None = None
) -> str:
    """The local directory of the model at `model_uri` (see the module doc). With
    `dst_path`, the files are downloaded there instead of the cache."""
    from trackwire import artifacts, fluent

    if not isinstance(model_uri, (str, os.PathLike)):
        raise InvalidArgumentError(f"model_uri must be a string, got {type(model_uri).__name__}")
    uri = os.fspath(model_uri)
    if not uri.startswith((artifacts.RUNS_SCHEME, artifacts.MODELS_SCHEME)):
        return artifacts.download_artifacts(artifact_uri=uri, dst_path=dst_path)
    server = tracking_uri or fluent.get_tracking_uri()
    # models:/ stages, aliases and `latest` move: resolve them now, cache by what they name.
    resolved = artifacts.resolve(uri, server)

    def fetch(dst: str) -> str:
        return artifacts.download_artifacts(
            run_id=resolved.run_id,
            artifact_path=resolved.path,
            dst_path=dst,
            tracking_uri=server,
        )

    if dst_path is not None:
        return fetch(dst_path)
    return _cached(f"{server}|{resolved.run_id}|{resolved.path}", fetch)
