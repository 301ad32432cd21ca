"""The model registry store: registered models, their versions, stages, tags and aliases.

Every public method is one unit of work (`unit_of_work.run`): writes that lose a race
for a lock (deadlock, serialization failure, lock timeout) or their connection are retried
whole, so callers never see a transient database error.

Version numbers are dense per model: the model's row is locked (SQLite: BEGIN
IMMEDIATE; PostgreSQL/MySQL: SELECT ... FOR UPDATE) and the next number is its
`last_version` + 1, so concurrent registrations queue on that row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import TypeVar

import peewee

from trackwire_server.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
)
from trackwire_server.limits import LIMITS
from trackwire_server.search.grammar import Grammar
from trackwire_server.store import unit_of_work
from trackwire_server.store.paging import PageToken, checked_page_size
from trackwire_server.store.records import ModelVersionRecord, RegisteredModelRecord
from trackwire_server.store.search_queries import (
    TAGGED_KINDS,
    Attribute,
    QueryBuilder,
    enum_value,
    id_number,
    time_ms,
)
from trackwire_server.store.statement_cache import upsert
from trackwire_server.store.unit_of_work import for_update
from trackwire_server.store.validation import (
    check_key,
    check_length,
    check_lookup_key,
    check_name,
    check_printable,
    check_relative_path,
    check_run_id,
)
from trackwire_server.store.writes import now_ms

T = TypeVar("T")

STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED = STAGES = (
    "None",
    "Staging",
    "Production",
    "Archived",
)
STAGE_NAMES = {stage.upper(): stage for stage in STAGES}  # as filters name them
STATUS_READY = 3  # ModelVersionStatus.MODEL_VERSION_STATUS_READY

MAX_MODEL_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 5000
MAX_ALIAS_LENGTH = 255
MAX_SOURCE_LENGTH = 2048
RUNS_SCHEME = "runs:/"
_ALIAS = re.compile(r"^[A-Za-z0-9_\-]+$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


REGISTERED_MODEL_GRAMMAR = Grammar(
    kinds=TAGGED_KINDS,
    bare_attributes=frozenset(
        {"name", "create_time", "update_time", "creation_timestamp", "last_updated_timestamp"}
    ),
    examples="name, create_time, update_time or tags.<key>",
)
REGISTERED_MODEL_ATTRIBUTES = {
    "name": Attribute("name", allows_in=True),
    "create_time": Attribute("creation_time", numeric=True, convert=time_ms),
    "update_time": Attribute("last_update_time", numeric=True, convert=time_ms),
    "creation_timestamp": Attribute("creation_time", numeric=True, convert=time_ms),
    "last_updated_timestamp": Attribute("last_update_time", numeric=True, convert=time_ms),
}

MODEL_VERSION_GRAMMAR = Grammar(
    kinds=TAGGED_KINDS,
    bare_attributes=frozenset(
        {
            "name",
            "version",
            "version_number",
            "run_id",
            "source",
            "current_stage",
            "user_id",
            "create_time",
            "update_time",
            "creation_timestamp",
            "last_updated_timestamp",
        }
    ),
    examples="name, version, run_id, source, current_stage, create_time or tags.<key>",
)
MODEL_VERSION_ATTRIBUTES = {
    "name": Attribute("name", allows_in=True),
    "version": Attribute("version", numeric=True, convert=id_number),
    "version_number": Attribute("version", numeric=True, convert=id_number),
    "run_id": Attribute("run_id", allows_in=True),
    "source": Attribute("source"),
    "current_stage": Attribute(
        "current_stage", allows_in=True, convert=enum_value(STAGE_NAMES, "MODEL_VERSION_STAGE_")
    ),
    "user_id": Attribute("user_id"),
    "create_time": Attribute("creation_time", numeric=True, convert=time_ms),
    "update_time": Attribute("last_update_time", numeric=True, convert=time_ms),
    "creation_timestamp": Attribute("creation_time", numeric=True, convert=time_ms),
    "last_updated_timestamp": Attribute("last_update_time", numeric=True, convert=time_ms),
}


# -- checks -------------------------------------------------------------------------


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


def _check_tags(field: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        check_key(f"{field}.key", key)
        check_length(f"{field}['{key}'].value", value, LIMITS.max_tag_value_length)


class RegistryStore:
    """Registered models and model versions in the tracking store's database."""

    def __init__(self, db: peewee.Database, tables: SimpleNamespace):
        self.db = db
        self.t = tables

    # -- transactions ---------------------------------------------------------

    def _write(self, work: Callable[[], T]) -> T:
        return unit_of_work.run(self.db, work)

    def _read(self, work: Callable[[], T]) -> T:
        return unit_of_work.run(self.db, work, write=False)

    # -- rows ---------------------------------------------------------------------

    def _model_row(self, name: str, field: str = "name", lock: bool = False):
        check_model_name(field, name, lookup=True)
        query = self.t.RegisteredModel.select().where(self.t.RegisteredModel.name == name)
        row = (for_update(self.db, query) if lock else query).first()
        if row is None:
            raise NotFound(f"registered model '{name}' does not exist")
        return row

    def _version_row(self, model, version: str, field: str = "version"):
        number = parse_version(field, version)
        MV = self.t.ModelVersion
        row = MV.get_or_none((MV.model_id == model.model_id) & (MV.version == number))
        if row is None:
            raise NotFound(f"registered model '{model.name}' has no version {number}")
        return row

    def _touch(self, model, ts: int) -> None:
        self.t.RegisteredModel.update(last_update_time=ts).where(
            self.t.RegisteredModel.model_id == model.model_id
        ).execute()

    # -- records ----------------------------------------------------------------

    def _version_records(self, rows, names: dict[int, str]) -> list[ModelVersionRecord]:
        if not rows:
            return []
        ids = [r.model_version_id for r in rows]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        aliases: dict[int, list[str]] = {i: [] for i in ids}
        MVT, A = self.t.ModelVersionTag, self.t.RegisteredModelAlias
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

    def _version_record(self, model, row) -> ModelVersionRecord:
        return self._version_records([row], {model.model_id: model.name})[0]

    def _latest_rows(self, model, stages: list[str] | None = None) -> list:
        """The latest version of `model` in each stage (of `stages`), in stage order."""
        MV = self.t.ModelVersion
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

    def _model_record(self, row) -> RegisteredModelRecord:
        T, A, MV = self.t.RegisteredModelTag, self.t.RegisteredModelAlias, self.t.ModelVersion
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
            latest_versions=self._version_records(self._latest_rows(row), {row.model_id: row.name}),
            tags=tags,
            aliases=aliases,
        )

    # -- registered models ---------------------------------------------------------

    def create_registered_model(
        self, name: str, description: str = "", tags: dict[str, str] | None = None
    ) -> RegisteredModelRecord:
        check_model_name("name", name)
        check_length("description", description, MAX_DESCRIPTION_LENGTH)
        tags = tags or {}
        _check_tags("tags", tags)
        RM = self.t.RegisteredModel

        def work():
            if RM.get_or_none(RM.name == name) is not None:
                raise AlreadyExists(f"registered model '{name}' already exists")
            ts = now_ms()
            try:
                model_id = RM.insert(
                    name=name,
                    description=description,
                    creation_time=ts,
                    last_update_time=ts,
                    last_version=0,
                ).execute()
            except peewee.IntegrityError:
                raise AlreadyExists(f"registered model '{name}' already exists") from None
            if tags:
                self.t.RegisteredModelTag.insert_many(
                    [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()]
                ).execute()
            return self._model_record(RM.get_by_id(model_id))

        return self._write(work)

    def get_registered_model(self, name: str) -> RegisteredModelRecord:
        return self._read(lambda: self._model_record(self._model_row(name)))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModelRecord:
        check_model_name("name", name, lookup=True)
        check_model_name("new_name", new_name)
        RM = self.t.RegisteredModel

        def work():
            row = self._model_row(name, lock=True)
            if new_name != name:
                if RM.get_or_none(RM.name == new_name) is not None:
                    raise AlreadyExists(f"registered model '{new_name}' already exists")
                row.name = new_name
                row.last_update_time = now_ms()
                try:
                    row.save()
                except peewee.IntegrityError:
                    raise AlreadyExists(f"registered model '{new_name}' already exists") from None
            return self._model_record(row)

        return self._write(work)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModelRecord:
        if description is not None:
            check_length("description", description, MAX_DESCRIPTION_LENGTH)

        def work():
            row = self._model_row(name, lock=True)
            if description is not None:
                row.description = description
                row.last_update_time = now_ms()
                row.save()
            return self._model_record(row)

        return self._write(work)

    def delete_registered_model(self, name: str) -> None:
        def work():
            row = self._model_row(name, lock=True)
            MV, MVT = self.t.ModelVersion, self.t.ModelVersionTag
            versions = MV.select(MV.model_version_id).where(MV.model_id == row.model_id)
            MVT.delete().where(MVT.model_version_id.in_(versions)).execute()
            MV.delete().where(MV.model_id == row.model_id).execute()
            for table in (self.t.RegisteredModelAlias, self.t.RegisteredModelTag):
                table.delete().where(table.model_id == row.model_id).execute()
            row.delete_instance()

        self._write(work)

    def search_registered_models(
        self, filter: str = "", order_by: list[str] = (), page_size: int = 0, page_token: str = ""
    ) -> tuple[list[RegisteredModelRecord], str]:
        tree = REGISTERED_MODEL_GRAMMAR.parse_filter(filter)
        order_keys = REGISTERED_MODEL_GRAMMAR.parse_order_by(list(order_by))
        size = checked_page_size(page_size)
        fingerprint = PageToken.fingerprint("registered_models", filter, list(order_by))
        offset = PageToken.decode(page_token, fingerprint)
        RM = self.t.RegisteredModel
        builder = QueryBuilder(
            RM, "model_id", {"tag": self.t.RegisteredModelTag}, REGISTERED_MODEL_ATTRIBUTES
        )
        where = builder.condition(tree) if tree is not None else True

        def work():
            query = builder.order(RM.select().where(where), order_keys, [RM.name, RM.model_id])
            rows = list(query.offset(offset).limit(size + 1))
            return rows, [self._model_record(r) for r in rows[:size]]

        rows, records = self._read(work)
        token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
        return records, token

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        _check_tags("tag", {key: value})

        def work():
            row = self._model_row(name, lock=True)
            T = self.t.RegisteredModelTag
            rows = [{"model_id": row.model_id, "key": key, "value": value}]
            upsert(T, rows, (T.model_id, T.key), (T.value,))

        self._write(work)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        check_lookup_key("key", key)

        def work():
            row = self._model_row(name, lock=True)
            T = self.t.RegisteredModelTag
            if not T.delete().where((T.model_id == row.model_id) & (T.key == key)).execute():
                raise NotFound(f"registered model '{name}' has no tag '{key}'")

        self._write(work)

    # -- model versions ------------------------------------------------------------

    def _source_location(self, source: str, run_id: str) -> str:
        """The run id of a version's source, checked to lie inside that run's artifacts
        (NOT_FOUND if the run does not exist, INVALID_ARGUMENT if it lies elsewhere)."""
        if not source:
            raise InvalidArgument("source must not be empty")
        check_printable("source", source, MAX_SOURCE_LENGTH)
        if run_id:
            check_run_id("run_id", run_id)
        R = self.t.Run
        if source.startswith(RUNS_SCHEME):
            rest = source[len(RUNS_SCHEME) :]
            source_run, _, path = rest.partition("/")
            if not source_run:
                raise InvalidArgument(f"source '{source}' names no run: use runs:/<run_id>/<path>")
            check_run_id("source's run id", source_run)
            # Percent-decoded too: 'runs:/<id>/%2e%2e/%2e%2e' is refused.
            check_relative_path("source", path, allow_empty=True)
            if run_id and run_id != source_run:
                raise InvalidArgument(
                    f"run_id '{run_id}' is not the run of source '{source}' ({source_run})"
                )
            if R.get_or_none(R.run_id == source_run) is None:
                raise NotFound(f"source '{source}': run {source_run} does not exist")
            return source_run
        if not run_id:
            raise InvalidArgument(
                f"source '{source}' must be runs:/<run_id>/<path>, or lie under the artifact "
                "URI of the run named by run_id"
            )
        run = R.get_or_none(R.run_id == run_id)
        if run is None:
            raise NotFound(f"run_id: run {run_id} does not exist")
        root = run.artifact_uri.rstrip("/")
        if source.rstrip("/") != root:
            if not source.startswith(root + "/"):
                raise InvalidArgument(
                    f"source '{source}' is outside the artifacts of run {run_id} ({root}); "
                    "use runs:/<run_id>/<path>"
                )
            check_relative_path("source", source[len(root) + 1 :], allow_empty=True)
        return run_id

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str = "",
        description: str = "",
        tags: dict[str, str] | None = None,
        user_id: str = "",
    ) -> ModelVersionRecord:
        check_model_name("name", name, lookup=True)
        check_length("description", description, MAX_DESCRIPTION_LENGTH)
        check_printable("user_id", user_id, LIMITS.max_key_length)
        tags = tags or {}
        _check_tags("tags", tags)
        MV = self.t.ModelVersion

        def work():
            run = self._source_location(source, run_id)
            model = self._model_row(name, lock=True)
            number = model.last_version + 1
            ts = now_ms()
            self.t.RegisteredModel.update(last_version=number, last_update_time=ts).where(
                self.t.RegisteredModel.model_id == model.model_id
            ).execute()
            version_id = MV.insert(
                model_id=model.model_id,
                version=number,
                creation_time=ts,
                last_update_time=ts,
                user_id=user_id,
                current_stage=STAGE_NONE,
                description=description,
                source=source,
                run_id=run,
                status=STATUS_READY,
                status_message="",
            ).execute()
            if tags:
                self.t.ModelVersionTag.insert_many(
                    [
                        {"model_version_id": version_id, "key": k, "value": v}
                        for k, v in tags.items()
                    ]
                ).execute()
            return self._version_record(model, MV.get_by_id(version_id))

        return self._write(work)

    def get_model_version(self, name: str, version: str) -> ModelVersionRecord:
        def work():
            model = self._model_row(name)
            return self._version_record(model, self._version_row(model, version))

        return self._read(work)

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersionRecord:
        parse_version("version", version)
        if description is not None:
            check_length("description", description, MAX_DESCRIPTION_LENGTH)

        def work():
            model = self._model_row(name, lock=True)
            row = self._version_row(model, version)
            if description is not None:
                row.description = description
                row.last_update_time = now_ms()
                row.save()
                self._touch(model, row.last_update_time)
            return self._version_record(model, row)

        return self._write(work)

    def delete_model_version(self, name: str, version: str) -> None:
        parse_version("version", version)

        def work():
            model = self._model_row(name, lock=True)
            row = self._version_row(model, version)
            for table in (self.t.ModelVersionTag, self.t.RegisteredModelAlias):
                table.delete().where(table.model_version_id == row.model_version_id).execute()
            row.delete_instance()
            self._touch(model, now_ms())

        self._write(work)

    def search_model_versions(
        self, filter: str = "", order_by: list[str] = (), page_size: int = 0, page_token: str = ""
    ) -> tuple[list[ModelVersionRecord], str]:
        tree = MODEL_VERSION_GRAMMAR.parse_filter(filter)
        order_keys = MODEL_VERSION_GRAMMAR.parse_order_by(list(order_by))
        for key in order_keys:
            if key.identifier.kind != "attribute":
                raise InvalidArgument(
                    f"{key.identifier.source}: model versions sort by attributes only, "
                    f"not '{key.identifier.raw}'"
                )
        size = checked_page_size(page_size)
        fingerprint = PageToken.fingerprint("model_versions", filter, list(order_by))
        offset = PageToken.decode(page_token, fingerprint)
        MV, RM = self.t.ModelVersion, self.t.RegisteredModel
        # The version's columns, with `name` from its registered model.
        owner = SimpleNamespace(
            **{f.name: f for f in MV._meta.sorted_fields}, name=RM.name, model_name=RM.name
        )
        builder = QueryBuilder(
            owner, "model_version_id", {"tag": self.t.ModelVersionTag}, MODEL_VERSION_ATTRIBUTES
        )
        where = builder.condition(tree) if tree is not None else True

        def work():
            query = (
                MV.select(MV, RM.name.alias("model_name"))
                .join(RM, on=MV.model_id == RM.model_id)
                .where(where)
            )
            query = builder.order(query, order_keys, [RM.name, MV.version.desc()])
            rows = list(query.offset(offset).limit(size + 1).objects())
            names = {r.model_id: r.model_name for r in rows}
            return rows, self._version_records(rows[:size], names)

        rows, records = self._read(work)
        token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
        return records, token

    def get_latest_versions(
        self, name: str, stages: list[str] | None = None
    ) -> list[ModelVersionRecord]:
        wanted = [parse_stage(f"stages[{i}]", s) for i, s in enumerate(stages)] if stages else None

        def work():
            model = self._model_row(name)
            return self._version_records(
                self._latest_rows(model, wanted), {model.model_id: model.name}
            )

        return self._read(work)

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersionRecord:
        parse_version("version", version)
        new_stage = parse_stage("stage", stage)
        if archive_existing_versions and new_stage not in (STAGE_STAGING, STAGE_PRODUCTION):
            raise InvalidArgument(
                f"archive_existing_versions applies to Staging and Production, not {new_stage}"
            )
        MV = self.t.ModelVersion

        def work():
            model = self._model_row(name, lock=True)
            row = self._version_row(model, version)
            ts = now_ms()
            if archive_existing_versions:
                MV.update(current_stage=STAGE_ARCHIVED, last_update_time=ts).where(
                    (MV.model_id == model.model_id)
                    & (MV.current_stage == new_stage)
                    & (MV.model_version_id != row.model_version_id)
                ).execute()
            row.current_stage = new_stage
            row.last_update_time = ts
            row.save()
            self._touch(model, ts)
            return self._version_record(model, row)

        return self._write(work)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        parse_version("version", version)
        _check_tags("tag", {key: value})

        def work():
            model = self._model_row(name, lock=True)
            row = self._version_row(model, version)
            T = self.t.ModelVersionTag
            rows = [{"model_version_id": row.model_version_id, "key": key, "value": value}]
            upsert(T, rows, (T.model_version_id, T.key), (T.value,))

        self._write(work)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        parse_version("version", version)
        check_lookup_key("key", key)

        def work():
            model = self._model_row(name, lock=True)
            row = self._version_row(model, version)
            T = self.t.ModelVersionTag
            deleted = (
                T.delete()
                .where((T.model_version_id == row.model_version_id) & (T.key == key))
                .execute()
            )
            if not deleted:
                raise NotFound(f"version {row.version} of '{name}' has no tag '{key}'")

        self._write(work)

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        def work():
            model = self._model_row(name)
            row = self._version_row(model, version)
            R = self.t.Run
            run = R.get_or_none(R.run_id == row.run_id)
            if run is None:
                raise NotFound(f"run {row.run_id} of version {row.version} no longer exists")
            if row.source.startswith(RUNS_SCHEME):
                path = row.source[len(RUNS_SCHEME) :].partition("/")[2].strip("/")
                root = run.artifact_uri.rstrip("/")
                return f"{root}/{path}" if path else root
            return row.source

        return self._read(work)

    # -- aliases ---------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        check_alias("alias", alias)
        parse_version("version", version)
        A = self.t.RegisteredModelAlias

        def work():
            model = self._model_row(name, lock=True)
            row = self._version_row(model, version)
            rows = [
                {
                    "model_id": model.model_id,
                    "alias": alias,
                    "model_version_id": row.model_version_id,
                }
            ]
            upsert(A, rows, (A.model_id, A.alias), (A.model_version_id,))
            self._touch(model, now_ms())

        self._write(work)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        check_alias("alias", alias)
        A = self.t.RegisteredModelAlias

        def work():
            model = self._model_row(name, lock=True)
            if not A.delete().where((A.model_id == model.model_id) & (A.alias == alias)).execute():
                raise NotFound(f"registered model '{name}' has no alias '{alias}'")
            self._touch(model, now_ms())

        self._write(work)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionRecord:
        check_alias("alias", alias)
        A, MV = self.t.RegisteredModelAlias, self.t.ModelVersion

        def work():
            model = self._model_row(name)
            row = (
                MV.select()
                .join(A, on=A.model_version_id == MV.model_version_id)
                .where((A.model_id == model.model_id) & (A.alias == alias))
                .first()
            )
            if row is None:
                raise NotFound(f"registered model '{name}' has no alias '{alias}'")
            return self._version_record(model, row)

        return self._read(work)
