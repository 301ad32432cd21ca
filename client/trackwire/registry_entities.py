"""Model registry entities, shaped like MLflow's (same attribute names)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trackwire import errors
from trackwire.v1 import registered_model_pb2
from trackwire_protocol.enums import MODEL_VERSION_STATUSES as _STATUS_NAMES

# MLflow's stage names ("None", "Staging", "Production", "Archived") by ModelVersionStage.
STAGE_NAMES = {
    number: name.removeprefix("MODEL_VERSION_STAGE_").capitalize()
    for name, number in registered_model_pb2.ModelVersionStage.items()
    if number != registered_model_pb2.MODEL_VERSION_STAGE_UNSPECIFIED
}


def stage_name(stage: int) -> str:
    """A ModelVersionStage as MLflow names it ("Staging")."""
    return STAGE_NAMES.get(stage, "None")


def stage_number(field: str, stage: str) -> int:
    """MLflow's stage name, in any case (or the enum's own name), as a ModelVersionStage."""
    if isinstance(stage, str):
        wanted = stage.upper().removeprefix("MODEL_VERSION_STAGE_")
        for number, name in STAGE_NAMES.items():
            if wanted == name.upper():
                return number
    raise errors.InvalidArgumentError(
        f"{field} '{str(stage)[:40]}' is not one of {', '.join(STAGE_NAMES.values())}"
    )


def _ms(message, name: str) -> int | None:
    return getattr(message, name).ToMilliseconds() if message.HasField(name) else None


@dataclass
class ModelVersion:
    """One version of a registered model. `version` is a decimal string ("3"), as MLflow's
    REST client returns it; `source` points into the run's artifacts."""

    name: str
    version: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str = ""
    user_id: str = ""
    current_stage: str = "None"
    source: str = ""
    run_id: str = ""
    status: str = "READY"
    status_message: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @classmethod
    def from_proto(cls, p: registered_model_pb2.ModelVersion) -> ModelVersion:
        return cls(
            name=p.name,
            version=p.version,
            creation_timestamp=_ms(p, "create_time"),
            last_updated_timestamp=_ms(p, "update_time"),
            description=p.description,
            user_id=p.user_id,
            current_stage=stage_name(p.stage),
            source=p.source,
            run_id=p.run_id,
            status=_STATUS_NAMES.get(p.status, "UNKNOWN"),
            status_message=p.status_message,
            tags={t.key: t.value for t in p.tags},
            aliases=list(p.aliases),
        )


@dataclass
class RegisteredModel:
    """A named model: its latest version per stage, tags and aliases (alias -> version)."""

    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str = ""
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, p: registered_model_pb2.RegisteredModel) -> RegisteredModel:
        return cls(
            name=p.name,
            creation_timestamp=_ms(p, "create_time"),
            last_updated_timestamp=_ms(p, "update_time"),
            description=p.description,
            latest_versions=[ModelVersion.from_proto(v) for v in p.latest_versions],
            tags={t.key: t.value for t in p.tags},
            aliases={a.alias: a.version for a in p.aliases},
        )
