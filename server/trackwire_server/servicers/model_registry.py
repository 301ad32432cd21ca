"""ModelRegistryService: registered models, versions, stages, tags and aliases."""

from __future__ import annotations

from trackwire.v1 import model_registry_service_pb2 as pb
from trackwire.v1 import model_registry_service_pb2_grpc
from trackwire_server import convert
from trackwire_server.auth.access import Access, OpenAccess
from trackwire_server.errors import InvalidArgument
from trackwire_server.store import Store
from trackwire_server.store.grants import MODEL_RESOURCE


def _tag(request, field: str = "tag"):
    if not request.HasField(field):
        raise InvalidArgument(f"{field} is required")
    tag = getattr(request, field)
    return tag.key, tag.value


class ModelRegistryServicer(model_registry_service_pb2_grpc.ModelRegistryServiceServicer):
    def __init__(self, store: Store, access: Access | OpenAccess | None = None):
        self.store = store
        # Who may see what (searches) and who gets MANAGE on a new model.
        self.access = access or OpenAccess()

    # -- registered models ---------------------------------------------------

    def CreateRegisteredModel(self, request, context):
        record = self.store.registered_models.create_registered_model(
            request.name,
            request.description,
            {t.key: t.value for t in request.tags},
            convert.millis(request.create_time, request.HasField("create_time")),
            creator=self.access.creator(),
        )
        return pb.CreateRegisteredModelResponse(registered_model=convert.registered_model(record))

    def GetRegisteredModel(self, request, context):
        record = self.store.reads.registered_models.get_registered_model(request.name)
        return pb.GetRegisteredModelResponse(registered_model=convert.registered_model(record))

    def RenameRegisteredModel(self, request, context):
        record = self.store.registered_models.rename_registered_model(
            request.name, request.new_name
        )
        return pb.RenameRegisteredModelResponse(registered_model=convert.registered_model(record))

    def UpdateRegisteredModel(self, request, context):
        description = request.description if request.HasField("description") else None
        record = self.store.registered_models.update_registered_model(request.name, description)
        return pb.UpdateRegisteredModelResponse(registered_model=convert.registered_model(record))

    def DeleteRegisteredModel(self, request, context):
        self.store.registered_models.delete_registered_model(request.name)
        # Its id may be given to the next model (SQLite): the levels this server cached
        # for it must not reach that one.
        self.access.forget_levels()
        return pb.DeleteRegisteredModelResponse()

    def SearchRegisteredModels(self, request, context):
        records, token = self.store.reads.registered_models.search_registered_models(
            request.filter,
            list(request.order_by),
            request.page_size,
            request.page_token,
            visible=self.access.visible(MODEL_RESOURCE),
        )
        return pb.SearchRegisteredModelsResponse(
            registered_models=[convert.registered_model(r) for r in records],
            next_page_token=token,
        )

    def SetRegisteredModelTag(self, request, context):
        self.store.registered_models.set_registered_model_tag(request.name, *_tag(request))
        return pb.SetRegisteredModelTagResponse()

    def DeleteRegisteredModelTag(self, request, context):
        self.store.registered_models.delete_registered_model_tag(request.name, request.key)
        return pb.DeleteRegisteredModelTagResponse()

    # -- model versions ---------------------------------------------------------

    def CreateModelVersion(self, request, context):
        record = self.store.model_versions.create_model_version(
            request.name,
            request.source,
            request.run_id,
            request.description,
            {t.key: t.value for t in request.tags},
            request.user_id,
            convert.millis(request.create_time, request.HasField("create_time")),
        )
        return pb.CreateModelVersionResponse(model_version=convert.model_version(record))

    def GetModelVersion(self, request, context):
        record = self.store.reads.model_versions.get_model_version(request.name, request.version)
        return pb.GetModelVersionResponse(model_version=convert.model_version(record))

    def UpdateModelVersion(self, request, context):
        description = request.description if request.HasField("description") else None
        record = self.store.model_versions.update_model_version(
            request.name, request.version, description
        )
        return pb.UpdateModelVersionResponse(model_version=convert.model_version(record))

    def DeleteModelVersion(self, request, context):
        self.store.model_versions.delete_model_version(request.name, request.version)
        return pb.DeleteModelVersionResponse()

    def SearchModelVersions(self, request, context):
        records, token = self.store.reads.model_versions.search_model_versions(
            request.filter,
            list(request.order_by),
            request.page_size,
            request.page_token,
            visible=self.access.visible(MODEL_RESOURCE),
        )
        return pb.SearchModelVersionsResponse(
            model_versions=[convert.model_version(r) for r in records], next_page_token=token
        )

    def GetLatestModelVersions(self, request, context):
        stages = [
            convert.stage_name(stage, f"wanted_stages[{i}]")
            for i, stage in enumerate(request.wanted_stages)
        ]
        records = self.store.reads.model_versions.get_latest_versions(request.name, stages)
        return pb.GetLatestModelVersionsResponse(
            model_versions=[convert.model_version(r) for r in records]
        )

    def TransitionModelVersionStage(self, request, context):
        record = self.store.model_versions.transition_model_version_stage(
            request.name,
            request.version,
            convert.stage_name(request.new_stage, "new_stage"),
            request.archive_existing_versions,
        )
        return pb.TransitionModelVersionStageResponse(model_version=convert.model_version(record))

    def SetModelVersionTag(self, request, context):
        self.store.model_versions.set_model_version_tag(
            request.name, request.version, *_tag(request)
        )
        return pb.SetModelVersionTagResponse()

    def DeleteModelVersionTag(self, request, context):
        self.store.model_versions.delete_model_version_tag(
            request.name, request.version, request.key
        )
        return pb.DeleteModelVersionTagResponse()

    # -- aliases --------------------------------------------------------------------

    def SetRegisteredModelAlias(self, request, context):
        self.store.registered_models.set_registered_model_alias(
            request.name, request.alias, request.version
        )
        return pb.SetRegisteredModelAliasResponse()

    def DeleteRegisteredModelAlias(self, request, context):
        self.store.registered_models.delete_registered_model_alias(request.name, request.alias)
        return pb.DeleteRegisteredModelAliasResponse()

    def GetModelVersionByAlias(self, request, context):
        record = self.store.reads.model_versions.get_model_version_by_alias(
            request.name, request.alias
        )
        return pb.GetModelVersionByAliasResponse(model_version=convert.model_version(record))

    def GetModelVersionDownloadUri(self, request, context):
        uri = self.store.reads.model_versions.get_model_version_download_uri(
            request.name, request.version
        )
        return pb.GetModelVersionDownloadUriResponse(artifact_uri=uri)
