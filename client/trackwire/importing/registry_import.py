"""Copying MLflow's model registry into Trackwire: registered models, their versions
(numbers kept), stages, aliases, tags and descriptions.

Trackwire numbers a model's versions itself, one more than the highest so far, so
versions are created in MLflow's order; a number MLflow no longer has (a deleted
version) is taken by a placeholder version that is deleted at once, and is never given
again, as in MLflow. A version's files stay where the import copied its run's
artifacts: its source becomes `runs:/<run_id>/<path>`. An MLflow 3 logged model's files
(a `models:/m-...` source) are copied into its run's artifacts, under
`logged-models/<model id>/`, and the version points there.
"""

from __future__ import annotations

from trackwire import TrackwireClient, errors
from trackwire.importing.mlflow_source import (
    SourceError,
    SourceModelVersion,
    SourceRegisteredModel,
)
from trackwire.importing.report import ImportReport
from trackwire.registry_entities import ModelVersion, stage_number
from trackwire.v1 import model_registry_service_pb2 as pb
from trackwire.v1 import registered_model_pb2
from trackwire_protocol.calls import call
from trackwire_protocol.times import timestamp

PLACEHOLDER_TAG = "trackwire.import.placeholder"
# Where the files of an MLflow 3 logged model go in its run's artifacts.
LOGGED_MODELS_FOLDER = "logged-models"


def trackwire_source(version: SourceModelVersion, run_artifact_uri: str) -> str | None:
    """The version's source as a `runs:/` URI, or None when its files are not in its
    run's artifacts (an MLflow 3 logged model `models:/m-...`, a path elsewhere)."""
    source = version.source
    if source.startswith("runs:/"):
        return source
    root = run_artifact_uri.rstrip("/")
    if version.run_id and root and (source == root or source.startswith(root + "/")):
        return f"runs:/{version.run_id}/{source[len(root) :].strip('/')}".rstrip("/")
    return None


class RegistryImporter:
    def __init__(self, source, client: TrackwireClient, report: ImportReport, request_id):
        self.source = source
        self.client = client
        self.registry = client._connection.registry
        self.report = report
        self.request_id = request_id
        self._artifact_uris: dict[str, str] = {}

    def run(self) -> None:
        for model in self.source.registered_models():
            try:
                self.import_model(model)
            except (errors.TrackwireException, SourceError) as e:
                self.report.error(f"registered model {model.name!r}: {e}")

    def import_model(self, model: SourceRegisteredModel) -> None:
        try:
            target = self.client.get_registered_model(model.name)
        except errors.NotFoundError:
            target = None
        if target is None:
            call(
                self.registry.CreateRegisteredModel,
                pb.CreateRegisteredModelRequest(
                    name=model.name,
                    description=model.description,
                    tags=[
                        registered_model_pb2.RegisteredModelTag(key=k, value=v)
                        for k, v in model.tags.items()
                    ],
                    request_id=self.request_id("model", model.name),
                    create_time=timestamp(model.creation_time),
                ),
            )
            self.report.add("registered models")
            target = self.client.get_registered_model(model.name)
        else:
            self.report.skip("registered models", "already in Trackwire (matched by name)")
        if target.description != model.description:
            self.client.update_registered_model(model.name, model.description)
            self.report.add("descriptions")
        for key, value in model.tags.items():
            if target.tags.get(key) != value:
                self.client.set_registered_model_tag(model.name, key, value)
                self.report.add("registered model tags")
        self.import_versions(model)
        for alias, version in model.aliases.items():
            if target.aliases.get(alias) == str(version):
                self.report.skip("aliases", "already imported")
                continue
            try:
                self.client.set_registered_model_alias(model.name, alias, version)
                self.report.add("aliases")
            except errors.TrackwireException as e:
                self.report.error(f"alias {alias!r} of {model.name!r}: {e}")

    def _versions(self, name: str) -> dict[int, ModelVersion]:
        quoted = name.replace("'", "\\'")
        return {
            int(v.version): v
            for v in self.client.search_model_versions(f"name = '{quoted}'", max_results=10_000)
        }

    def import_versions(self, model: SourceRegisteredModel) -> None:
        present = self._versions(model.name)
        wanted = {v.version: v for v in model.versions}
        highest = max(wanted, default=0)
        for number in range(1, highest + 1):
            version = wanted.get(number)
            if version is None:
                self._fill_gap(model, number, present)
                continue
            target = present.get(number)
            if target is None:
                if number <= max(present, default=0):
                    self.report.skip(
                        "model versions", "number already used in Trackwire by a deleted version"
                    )
                    continue
                target = self._create_version(model, version, present)
                if target is None:
                    continue
                present[number] = target
            else:
                self.report.skip("model versions", "already imported")
            self._align_version(version, target)

    def _run_uri(self, run_id: str) -> str:
        if run_id not in self._artifact_uris:
            self._artifact_uris[run_id] = self.source_artifact_uri(run_id)
        return self._artifact_uris[run_id]

    def source_artifact_uri(self, run_id: str) -> str:
        getter = getattr(self.source, "run_artifact_uri", None)
        return getter(run_id) if getter else ""

    def _copy_logged_model(self, version: SourceModelVersion) -> str | None:
        """Copies an MLflow 3 logged model's files (`models:/m-...`) into its run's
        artifacts, under `logged-models/<model id>/`; returns that folder as a `runs:/`
        source, or None when there is no run or no such model."""
        model_id = version.source[len("models:/") :].strip("/")
        if not version.run_id or not model_id or "/" in model_id:
            return None
        files = self.source.logged_model(model_id)
        if files is None:
            return None
        folder = f"{LOGGED_MODELS_FOLDER}/{model_id}"
        present = {}
        try:
            stack = [folder]
            while stack:
                for f in self.client.list_artifacts(version.run_id, stack.pop()):
                    if f.is_dir:
                        stack.append(f.path)
                    else:
                        present[f.path] = f.file_size
        except errors.NotFoundError:
            pass
        for artifact in self.source.artifacts(files):
            path = f"{folder}/{artifact.path}"
            if present.get(path) == artifact.size:
                self.report.skip("artifacts", "already imported (same size)")
                continue
            data = self.source.read_artifact(files, artifact.path)
            self.client.log_bytes(version.run_id, data, path)
            self.report.add("artifacts")
            self.report.add("artifact bytes", len(data))
        return f"runs:/{version.run_id}/{folder}"

    def _create_version(self, model, version: SourceModelVersion, present, placeholder=False):
        source = trackwire_source(version, self._run_uri(version.run_id))
        if source is None and version.source.startswith("models:/"):
            source = self._copy_logged_model(version)
        if source is None:
            self.report.skip(
                "model versions", "files neither in a run's artifacts nor a logged model of a run"
            )
            # Keep the numbering: the number is taken and freed like a deleted version.
            return self._placeholder(model, version.version, present, version.run_id)
        tags = {} if not placeholder else {PLACEHOLDER_TAG: "true"}
        if not placeholder:
            tags = dict(version.tags)
        response = call(
            self.registry.CreateModelVersion,
            pb.CreateModelVersionRequest(
                name=model.name,
                source=source,
                run_id=version.run_id,
                description="" if placeholder else version.description,
                user_id=version.user_id,
                tags=[
                    registered_model_pb2.ModelVersionTag(key=k, value=v) for k, v in tags.items()
                ],
                request_id=self.request_id("version", model.name, version.version, placeholder),
                create_time=timestamp(version.creation_time),
            ),
        )
        created = ModelVersion.from_proto(response.model_version)
        if int(created.version) != version.version:
            raise errors.FailedPreconditionError(
                f"version {version.version} of {model.name!r} became version {created.version}"
                " in Trackwire (the model has versions MLflow does not)"
            )
        if not placeholder:
            self.report.add("model versions")
        return created

    def _placeholder(self, model, number: int, present, run_id: str = ""):
        """Takes version `number` with a placeholder and deletes it at once."""
        run_ids = [v.run_id for v in model.versions if v.run_id] + ([run_id] if run_id else [])
        run_id = run_id or (run_ids[0] if run_ids else "")
        if not run_id:
            self.report.error(f"version {number} of {model.name!r}: no run to number it with")
            return None
        stand_in = SourceModelVersion(model.name, number, f"runs:/{run_id}", run_id)
        created = self._create_version(model, stand_in, present, placeholder=True)
        if created is not None:
            self._delete(model.name, number)
        return None

    def _delete(self, name: str, number: int) -> None:
        call(
            self.registry.DeleteModelVersion,
            pb.DeleteModelVersionRequest(
                name=name, version=str(number), request_id=self.request_id("free", name, number)
            ),
        )

    def _fill_gap(self, model, number: int, present) -> None:
        """Version `number` was deleted in MLflow: make Trackwire skip it too."""
        target = present.get(number)
        if target is not None and target.tags.get(PLACEHOLDER_TAG) == "true":
            self._delete(model.name, number)  # an interrupted import's placeholder
        elif target is None and number > max(present, default=0):
            self._placeholder(model, number, present)
        self.report.skip("model versions", "deleted in MLflow (number kept free)")

    def _align_version(self, version: SourceModelVersion, target: ModelVersion) -> None:
        name, number = version.name, version.version
        if target.description != version.description:
            self.client.update_model_version(name, number, version.description)
            self.report.add("descriptions")
        for key, value in version.tags.items():
            if target.tags.get(key) != value:
                self.client.set_model_version_tag(name, number, key, value)
                self.report.add("model version tags")
        if target.current_stage.lower() != (version.stage or "None").lower():
            call(
                self.registry.TransitionModelVersionStage,
                pb.TransitionModelVersionStageRequest(
                    name=name,
                    version=str(number),
                    new_stage=stage_number("stage", version.stage),
                    request_id=self.request_id("stage", name, number, version.stage),
                ),
            )
            self.report.add("stages")


def import_registry(source, client: TrackwireClient, report: ImportReport, request_id) -> None:
    RegistryImporter(source, client, report, request_id).run()
