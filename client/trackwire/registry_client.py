"""TrackwireClient's model registry methods (MLflow's names and signatures).

Kept apart from client.py: `TrackwireClient` inherits them from `ModelRegistryMethods`.
"""

from __future__ import annotations

from collections.abc import Sequence

from trackwire import errors
from trackwire.entities import PagedList
from trackwire.registry_entities import ModelVersion, RegisteredModel, stage_number
from trackwire.user import default_user
from trackwire.v1 import model_registry_service_pb2 as pb
from trackwire.v1 import registered_model_pb2
from trackwire_protocol.calls import call

# SearchModelVersions pages: the server's limit.
SEARCH_MODEL_VERSIONS_PAGE = 10_000


def _version(version) -> str:
    """A version number as the wire has it: 2 and "2" are the same version."""
    return str(version)


class ModelRegistryMethods:
    """The registry RPCs, on top of a connection's ModelRegistryService stub."""

    @property
    def _registry(self):
        return self._connection.registry

    # -- registered models ---------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Creates a registered model; AlreadyExistsError if the name is taken."""
        response = call(
            self._registry.CreateRegisteredModel,
            pb.CreateRegisteredModelRequest(
                name=name,
                description=description or "",
                tags=[
                    registered_model_pb2.RegisteredModelTag(key=k, value=str(v))
                    for k, v in (tags or {}).items()
                ],
            ),
        )
        return RegisteredModel.from_proto(response.registered_model)

    def get_registered_model(self, name: str) -> RegisteredModel:
        response = call(self._registry.GetRegisteredModel, pb.GetRegisteredModelRequest(name=name))
        return RegisteredModel.from_proto(response.registered_model)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Renames a model; its versions, tags and aliases follow."""
        response = call(
            self._registry.RenameRegisteredModel,
            pb.RenameRegisteredModelRequest(name=name, new_name=new_name),
        )
        return RegisteredModel.from_proto(response.registered_model)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        request = pb.UpdateRegisteredModelRequest(name=name)
        if description is not None:
            request.description = description
        response = call(self._registry.UpdateRegisteredModel, request)
        return RegisteredModel.from_proto(response.registered_model)

    def delete_registered_model(self, name: str) -> None:
        """Deletes a model with its versions and aliases (the runs' files stay)."""
        call(self._registry.DeleteRegisteredModel, pb.DeleteRegisteredModelRequest(name=name))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of registered models; filter on name (= != LIKE ILIKE IN) and tags."""
        response = call(
            self._registry.SearchRegisteredModels,
            pb.SearchRegisteredModelsRequest(
                filter=filter_string or "",
                order_by=list(order_by or ()),
                page_size=max_results,
                page_token=page_token or "",
            ),
        )
        return PagedList(
            [RegisteredModel.from_proto(m) for m in response.registered_models],
            response.next_page_token,
        )

    def set_registered_model_tag(self, name: str, key: str, value) -> None:
        call(
            self._registry.SetRegisteredModelTag,
            pb.SetRegisteredModelTagRequest(
                name=name, tag=registered_model_pb2.RegisteredModelTag(key=key, value=str(value))
            ),
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        call(
            self._registry.DeleteRegisteredModelTag,
            pb.DeleteRegisteredModelTagRequest(name=name, key=key),
        )

    # -- model versions ------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
    ) -> ModelVersion:
        """Registers the files at `source` (`runs:/<run_id>/<path>`, or under the artifact
        URI of run `run_id`) as the model's next version. Nothing is copied.

        `run_link` and `await_creation_for` are accepted for MLflow compatibility; versions
        are ready as soon as they are created.
        """
        response = call(
            self._registry.CreateModelVersion,
            pb.CreateModelVersionRequest(
                name=name,
                source=source,
                run_id=run_id or "",
                description=description or "",
                tags=[
                    registered_model_pb2.ModelVersionTag(key=k, value=str(v))
                    for k, v in (tags or {}).items()
                ],
                user_id=default_user(),
            ),
        )
        return ModelVersion.from_proto(response.model_version)

    def get_model_version(self, name: str, version) -> ModelVersion:
        response = call(
            self._registry.GetModelVersion,
            pb.GetModelVersionRequest(name=name, version=_version(version)),
        )
        return ModelVersion.from_proto(response.model_version)

    def update_model_version(
        self, name: str, version, description: str | None = None
    ) -> ModelVersion:
        request = pb.UpdateModelVersionRequest(name=name, version=_version(version))
        if description is not None:
            request.description = description
        return ModelVersion.from_proto(
            call(self._registry.UpdateModelVersion, request).model_version
        )

    def delete_model_version(self, name: str, version) -> None:
        call(
            self._registry.DeleteModelVersion,
            pb.DeleteModelVersionRequest(name=name, version=_version(version)),
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_PAGE,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of model versions; filter on name, version_number, run_id, source,
        current_stage and tags (`name='Churn'`, `run_id IN ('...')`)."""
        response = call(
            self._registry.SearchModelVersions,
            pb.SearchModelVersionsRequest(
                filter=filter_string or "",
                order_by=list(order_by or ()),
                page_size=max_results,
                page_token=page_token or "",
            ),
        )
        return PagedList(
            [ModelVersion.from_proto(v) for v in response.model_versions],
            response.next_page_token,
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The latest version in each of `stages` (default: every stage) that has one."""
        response = call(
            self._registry.GetLatestModelVersions,
            pb.GetLatestModelVersionsRequest(
                name=name,
                wanted_stages=[stage_number(f"stages[{i}]", s) for i, s in enumerate(stages or ())],
            ),
        )
        return [ModelVersion.from_proto(v) for v in response.model_versions]

    def transition_model_version_stage(
        self, name: str, version, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Moves a version to None, Staging, Production or Archived; with
        `archive_existing_versions`, the other versions in that stage become Archived
        in the same transaction."""
        response = call(
            self._registry.TransitionModelVersionStage,
            pb.TransitionModelVersionStageRequest(
                name=name,
                version=_version(version),
                new_stage=stage_number("stage", stage),
                archive_existing_versions=archive_existing_versions,
            ),
        )
        return ModelVersion.from_proto(response.model_version)

    def set_model_version_tag(
        self, name: str, version=None, key: str | None = None, value=None, stage=None
    ) -> None:
        if version is None:
            raise errors.InvalidArgumentError("version is required")
        if key is None:
            raise errors.InvalidArgumentError("key is required")
        call(
            self._registry.SetModelVersionTag,
            pb.SetModelVersionTagRequest(
                name=name,
                version=_version(version),
                tag=registered_model_pb2.ModelVersionTag(key=key, value=str(value)),
            ),
        )

    def delete_model_version_tag(
        self, name: str, version=None, key: str | None = None, stage=None
    ) -> None:
        if version is None:
            raise errors.InvalidArgumentError("version is required")
        call(
            self._registry.DeleteModelVersionTag,
            pb.DeleteModelVersionTagRequest(name=name, version=_version(version), key=key or ""),
        )

    def get_model_version_download_uri(self, name: str, version) -> str:
        response = call(
            self._registry.GetModelVersionDownloadUri,
            pb.GetModelVersionDownloadUriRequest(name=name, version=_version(version)),
        )
        return response.artifact_uri

    # -- aliases ---------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version) -> None:
        call(
            self._registry.SetRegisteredModelAlias,
            pb.SetRegisteredModelAliasRequest(name=name, alias=alias, version=_version(version)),
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        call(
            self._registry.DeleteRegisteredModelAlias,
            pb.DeleteRegisteredModelAliasRequest(name=name, alias=alias),
        )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        response = call(
            self._registry.GetModelVersionByAlias,
            pb.GetModelVersionByAliasRequest(name=name, alias=alias),
        )
        return ModelVersion.from_proto(response.model_version)
