"""TrackwireClient's artifact methods; `artifact_transfer` streams the files.

Kept apart from client.py: `TrackwireClient` inherits them from `ArtifactMethods`.
"""

from __future__ import annotations

import posixpath

from trackwire import artifact_helpers
from trackwire.artifact_transfer import (
    ArtifactTransfer,
    ArtifactWriter,
    Progress,
    SpooledArtifactWriter,
)
from trackwire.entities import FileInfo


class ArtifactMethods:
    """The artifact RPCs, through a client's `ArtifactTransfer`."""

    _transfer: ArtifactTransfer

    def log_artifact(
        self,
        run_id: str,
        local_path: str,
        artifact_path: str | None = None,
        progress: Progress | None = None,
    ) -> FileInfo:
        """Uploads one file under `artifact_path` (a folder in the run's artifacts);
        `progress(n)`, if given, is told the size of each chunk sent (a progress bar)."""
        return self._transfer.upload_file(run_id, local_path, artifact_path, progress)

    def log_artifacts(
        self,
        run_id: str,
        local_dir: str,
        artifact_path: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Uploads every file under `local_dir`, keeping the folder structure; several
        files at once (`progress` as in log_artifact, called from several threads)."""
        self._transfer.upload_folder(run_id, local_dir, artifact_path, progress)

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> FileInfo:
        """Uploads `data` as the file `artifact_file` of the run."""
        return self._transfer.upload_bytes(run_id, data, artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> FileInfo:
        """Uploads `text` (UTF-8) as the file `artifact_file` of the run."""
        return self.log_bytes(run_id, text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: dict, artifact_file: str) -> FileInfo:
        """Uploads `dictionary` as YAML (artifact_file ending .yaml/.yml) or JSON (any other)."""
        return self.log_text(
            run_id, artifact_helpers.dict_text(dictionary, artifact_file), artifact_file
        )

    def log_figure(
        self, run_id: str, figure, artifact_file: str, save_kwargs: dict | None = None
    ) -> FileInfo:
        """Uploads a matplotlib or plotly figure, in the format artifact_file's extension names."""
        return self.log_bytes(
            run_id, artifact_helpers.figure_bytes(figure, artifact_file, save_kwargs), artifact_file
        )

    def log_table(self, run_id: str, data, artifact_file: str) -> FileInfo:
        """Uploads a table (a pandas DataFrame or a dict of columns) as JSON in pandas'
        "split" layout; if the run already has `artifact_file`, the rows are appended."""
        existing = None
        parent = posixpath.dirname(artifact_file)
        if any(f.path == artifact_file for f in self.list_artifacts(run_id, parent or None)):
            existing = self._transfer.read(run_id, artifact_file)
        return self.log_bytes(
            run_id, artifact_helpers.table_bytes(data, artifact_file, existing), artifact_file
        )

    def open_artifact(
        self, run_id: str, artifact_file: str
    ) -> ArtifactWriter | SpooledArtifactWriter:
        """A binary file-like object whose bytes are uploaded as the run's file
        `artifact_file` while they are written (nothing is written to disk), or, where the
        server hands out presigned URLs (direct transfers), written to a temporary file
        and sent straight to the object store when it is closed; the file
        appears when the writer is closed, or not at all if it is closed by an error
        (`with client.open_artifact(run_id, "model.pth") as f: torch.save(m, f)`)."""
        return self._transfer.open_writer(run_id, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._transfer.list(run_id, path)

    def download_artifacts(
        self,
        run_id: str,
        path: str = "",
        dst_path: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Downloads a file or a whole folder of the run; returns the local path. Nothing
        is written outside `dst_path`, whatever paths the server lists. `progress(n)`,
        if given, is told the size of each chunk received (from several threads)."""
        return self._transfer.download(run_id, path, dst_path, progress)
