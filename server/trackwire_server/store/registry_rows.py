"""What the registry's parts share: the checks on names, versions, stages and aliases,
the rows a call starts from (a model, a version) and the records built from them."""

from __future__ import annotations

import re

import peewee

from trackwire.v1 import registered_model_pb2
from trackwire_server.errors import InvalidArgument, NotFound
from trackwire_server.limits import LIMITS
from trackwire_server.store.context import StoreContext
from trackwire_server.store.records import ModelVersionRecord, RegisteredModelRecord
from trackwire_server.store.unit_of_work import for_update
from trackwire_server.store.validation import check_key, check_length, check_name

STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED = STAGES = (
    "None",
    "Staging",
    "Production",
    "Archived",
)
STAGE_NAMES = {stage.upper(): stage for stage in STAGES}  # as filters name them
STATUS_READY = registered_model_pb2.MODEL_VERSION_STATUS_READY

MAX_MODEL_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 5000
MAX_ALIAS_LENGTH = 255
MAX_SOURCE_LENGTH = 2048
RUNS_SCHEME = "runs:/"
_ALIAS = re.compile(r"^[A-Za-z0-9_\-]+$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


def check_model_name(field: str, name: str, lookup: bool = False) -> None:
    """A model name; one being looked up (`lookup`) may be one stored before the rules on
    control and bidirectional characters, so that it can still be read and deleted."""
    if lookup:
        if not name or not name.strip():
            raise InvalidArgument(f"{field} must not be empty")
        check_length(field, name, MAX_MODEL_NAME_LENGTH)
    else:
        check_name(field, name, MAX_MODEL_NAME_LENGTH)
    for c in "/:":
        if c in name:
            raise InvalidArgument(f"{field} '{name}' must not contain '{c}'")


def parse_version(field: str, version: str) -> int:
    if not version:
        raise InvalidArgument(f"{field} must not be empty")
    if not version.isascii() or not version.isdigit() or not 0 < int(version) < 2**31:
        raise InvalidArgument(
            f"{field} '{version[:40]}' is not a version number (a positive decimal integer)"
        )
    return int(version)


def parse_stage(field: str, stage: str) -> str:
    for known in STAGES:
        if stage.lower() == known.lower():
            return known
    raise InvalidArgument(f"{field} '{stage[:40]}' is not one of {', '.join(STAGES)}")


def check_alias(field: str, alias: str) -> None:
    if not alias:
        raise InvalidArgument(f"{field} must not be empty")
    if len(alias) > MAX_ALIAS_LENGTH or not _ALIAS.match(alias):
        raise InvalidArgument(
            f"{field} '{alias[:40]}' must be 1 to {MAX_ALIAS_LENGTH} letters, digits, '_' or '-'"
        )
    if _RESERVED_ALIAS.match(alias):
        raise InvalidArgument(
            f"{field} '{alias}' is reserved: 'latest' and 'v<number>' name versions in model URIs"
        )


def check_tags(field: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        check_key(f"{field}.key", key)
        check_length(f"{field}['{key}'].value", value, LIMITS.max_tag_value_length)


def model_row(ctx: StoreContext, name: str, field: str = "name", lock: bool = False):
    check_model_name(field, name, lookup=True)
    query = ctx.t.RegisteredModel.select().where(ctx.t.RegisteredModel.name == name)
    row = (for_update(ctx.db, query) if lock else query).first()
    if row is None:
        raise NotFound(f"registered model '{name}' does not exist")
    return row


def version_row(ctx: StoreContext, model, version: str, field: str = "version"):
    number = parse_version(field, version)
    MV = ctx.t.ModelVersion
    row = MV.get_or_none((MV.model_id == model.model_id) & (MV.version == number))
    if row is None:
        raise NotFound(f"registered model '{model.name}' has no version {number}")
    return row


def touch(ctx: StoreContext, model, ts: int) -> None:
    ctx.t.RegisteredModel.update(last_update_time=ts).where(
        ctx.t.RegisteredModel.model_id == model.model_id
    ).execute()


def version_records(ctx: StoreContext, rows, names: dict[int, str]) -> list[ModelVersionRecord]:
    if not rows:
        return []
    ids = [r.model_version_id for r in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    MVT, A = ctx.t.ModelVersionTag, ctx.t.RegisteredModelAlias
    for chunk in peewee.chunked(ids, 500):
        for t in MVT.select().where(MVT.model_version_id.in_(chunk)):
            tags[t.model_version_id][t.key] = t.value
        for a in A.select().where(A.model_version_id.in_(chunk)).order_by(A.alias):
            aliases[a.model_version_id].append(a.alias)
    return [
        ModelVersionRecord(
            name=names[r.model_id],
            version=r.version,
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
            user_id=r.user_id,
            current_stage=r.current_stage,
            description=r.description,
            source=r.source,
            run_id=r.run_id,
            status=r.status,
            status_message=r.status_message,
            tags=tags[r.model_version_id],
            aliases=aliases[r.model_version_id],
        )
        for r in rows
    ]


def version_record(ctx: StoreContext, model, row) -> ModelVersionRecord:
    return version_records(ctx, [row], {model.model_id: model.name})[0]


def latest_rows(ctx: StoreContext, model, stages: list[str] | None = None) -> list:
    """The latest version of `model` in each stage (of `stages`), in stage order."""
    MV = ctx.t.ModelVersion
    where = MV.model_id == model.model_id
    if stages is not None:
        where &= MV.current_stage.in_(stages)
    latest = (
        MV.select(MV.current_stage, peewee.fn.MAX(MV.version).alias("top"))
        .where(where)
        .group_by(MV.current_stage)
        .tuples()
    )
    numbers = [top for _, top in latest]
    if not numbers:
        return []
    rows = list(MV.select().where((MV.model_id == model.model_id) & MV.version.in_(numbers)))
    return sorted(rows, key=lambda r: STAGES.index(r.current_stage))


def model_record(ctx: StoreContext, row) -> RegisteredModelRecord:
    T, A, MV = ctx.t.RegisteredModelTag, ctx.t.RegisteredModelAlias, ctx.t.ModelVersion
    tags = {t.key: t.value for t in T.select().where(T.model_id == row.model_id)}
    aliases = {
        alias: version
        for alias, version in A.select(A.alias, MV.version)
        .join(MV, on=A.model_version_id == MV.model_version_id)
        .where(A.model_id == row.model_id)
        .order_by(A.alias)
        .tuples()
    }
    return RegisteredModelRecord(
        name=row.name,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        description=row.description,
        latest_versions=version_records(ctx, latest_rows(ctx, row), {row.model_id: row.name}),
        tags=tags,
        aliases=aliases,
    )
