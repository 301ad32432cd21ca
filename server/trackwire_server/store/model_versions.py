"""Model versions: registered from a run's artifacts, read, described, deleted,
searched, moved between stages; their tags, download URIs and lookup by alias.

Version numbers are dense per model: the model's row is locked (SQLite: BEGIN
IMMEDIATE; PostgreSQL/MySQL: SELECT ... FOR UPDATE) and the next number is its
`last_version` + 1, so concurrent registrations queue on that row.
"""

from __future__ import annotations

from types import SimpleNamespace

from trackwire_server.errors import InvalidArgument, NotFound
from trackwire_server.limits import LIMITS
from trackwire_server.search.grammar import Grammar
from trackwire_server.store.context import StoreContext
from trackwire_server.store.grants import Visibility
from trackwire_server.store.inserts import upsert
from trackwire_server.store.paging import PageToken, checked_page_size
from trackwire_server.store.records import ModelVersionRecord
from trackwire_server.store.registry_rows import (
    MAX_DESCRIPTION_LENGTH,
    MAX_SOURCE_LENGTH,
    RUNS_SCHEME,
    STAGE_ARCHIVED,
    STAGE_NAMES,
    STAGE_NONE,
    STAGE_PRODUCTION,
    STAGE_STAGING,
    STATUS_READY,
    check_alias,
    check_model_name,
    check_tags,
    latest_rows,
    model_row,
    parse_stage,
    parse_version,
    touch,
    version_record,
    version_records,
    version_row,
)
from trackwire_server.store.search_queries import (
    TAGGED_KINDS,
    Attribute,
    QueryBuilder,
    enum_value,
    id_number,
    resource_times,
)
from trackwire_server.store.validation import (
    check_length,
    check_lookup_key,
    check_printable,
    check_relative_path,
    check_run_id,
    creation_time,
)
from trackwire_server.store.writes import now_ms

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
    **resource_times("creation_timestamp", "last_updated_timestamp"),
}
MODEL_VERSION_GRAMMAR = Grammar(
    kinds=TAGGED_KINDS,
    bare_attributes=frozenset(MODEL_VERSION_ATTRIBUTES),
    examples="name, version, run_id, source, current_stage, create_time or tags.<key>",
)


class ModelVersions:
    """The model versions of one database's registered models."""

    def __init__(self, ctx: StoreContext):
        self.ctx = ctx
        self.db = ctx.db
        self.t = ctx.t

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
        created_ms: int | None = None,
    ) -> ModelVersionRecord:
        """Creates the model's next version; `created_ms` is its creation time (an
        import's), else now."""
        check_model_name("name", name, lookup=True)
        check_length("description", description, MAX_DESCRIPTION_LENGTH)
        check_printable("user_id", user_id, LIMITS.max_key_length)
        tags = tags or {}
        check_tags("tags", tags)
        MV = self.t.ModelVersion

        def work():
            run = self._source_location(source, run_id)
            model = model_row(self.ctx, name, lock=True)
            number = model.last_version + 1
            now = now_ms()
            ts = creation_time("create_time", created_ms, now)
            self.t.RegisteredModel.update(last_version=number, last_update_time=now).where(
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
            return version_record(self.ctx, model, MV.get_by_id(version_id))

        return self.ctx.write(work)

    def get_model_version(self, name: str, version: str) -> ModelVersionRecord:
        def work():
            model = model_row(self.ctx, name)
            return version_record(self.ctx, model, version_row(self.ctx, model, version))

        return self.ctx.read(work)

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersionRecord:
        parse_version("version", version)
        if description is not None:
            check_length("description", description, MAX_DESCRIPTION_LENGTH)

        def work():
            model = model_row(self.ctx, name, lock=True)
            row = version_row(self.ctx, model, version)
            if description is not None:
                row.description = description
                row.last_update_time = now_ms()
                row.save()
                touch(self.ctx, model, row.last_update_time)
            return version_record(self.ctx, model, row)

        return self.ctx.write(work)

    def delete_model_version(self, name: str, version: str) -> None:
        parse_version("version", version)

        def work():
            model = model_row(self.ctx, name, lock=True)
            row = version_row(self.ctx, model, version)
            for table in (self.t.ModelVersionTag, self.t.RegisteredModelAlias):
                table.delete().where(table.model_version_id == row.model_version_id).execute()
            row.delete_instance()
            touch(self.ctx, model, now_ms())

        self.ctx.write(work)

    def search_model_versions(
        self,
        filter: str = "",
        order_by: list[str] = (),
        page_size: int = 0,
        page_token: str = "",
        *,
        visible: Visibility | None = None,
    ) -> tuple[list[ModelVersionRecord], str]:
        """One page of versions matching `filter`, of the models `visible` lets the
        caller read (all when None)."""
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
        if visible is not None:
            where = visible.condition(MV.model_id) & where

        def work():
            query = (
                MV.select(MV, RM.name.alias("model_name"))
                .join(RM, on=MV.model_id == RM.model_id)
                .where(where)
            )
            query = builder.order(query, order_keys, [RM.name, MV.version.desc()])
            rows = list(query.offset(offset).limit(size + 1).objects())
            names = {r.model_id: r.model_name for r in rows}
            return rows, version_records(self.ctx, rows[:size], names)

        rows, records = self.ctx.read(work)
        token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
        return records, token

    def get_latest_versions(
        self, name: str, stages: list[str] | None = None
    ) -> list[ModelVersionRecord]:
        wanted = [parse_stage(f"stages[{i}]", s) for i, s in enumerate(stages)] if stages else None

        def work():
            model = model_row(self.ctx, name)
            return version_records(
                self.ctx, latest_rows(self.ctx, model, wanted), {model.model_id: model.name}
            )

        return self.ctx.read(work)

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
            model = model_row(self.ctx, name, lock=True)
            row = version_row(self.ctx, model, version)
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
            touch(self.ctx, model, ts)
            return version_record(self.ctx, model, row)

        return self.ctx.write(work)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        parse_version("version", version)
        check_tags("tag", {key: value})

        def work():
            model = model_row(self.ctx, name, lock=True)
            row = version_row(self.ctx, model, version)
            T = self.t.ModelVersionTag
            rows = [{"model_version_id": row.model_version_id, "key": key, "value": value}]
            upsert(T, rows, (T.model_version_id, T.key), (T.value,))

        self.ctx.write(work)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        parse_version("version", version)
        check_lookup_key("key", key)

        def work():
            model = model_row(self.ctx, name, lock=True)
            row = version_row(self.ctx, model, version)
            T = self.t.ModelVersionTag
            deleted = (
                T.delete()
                .where((T.model_version_id == row.model_version_id) & (T.key == key))
                .execute()
            )
            if not deleted:
                raise NotFound(f"version {row.version} of '{name}' has no tag '{key}'")

        self.ctx.write(work)

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        def work():
            model = model_row(self.ctx, name)
            row = version_row(self.ctx, model, version)
            R = self.t.Run
            run = R.get_or_none(R.run_id == row.run_id)
            if run is None:
                raise NotFound(f"run {row.run_id} of version {row.version} no longer exists")
            if row.source.startswith(RUNS_SCHEME):
                path = row.source[len(RUNS_SCHEME) :].partition("/")[2].strip("/")
                root = run.artifact_uri.rstrip("/")
                return f"{root}/{path}" if path else root
            return row.source

        return self.ctx.read(work)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionRecord:
        check_alias("alias", alias)
        A, MV = self.t.RegisteredModelAlias, self.t.ModelVersion

        def work():
            model = model_row(self.ctx, name)
            row = (
                MV.select()
                .join(A, on=A.model_version_id == MV.model_version_id)
                .where((A.model_id == model.model_id) & (A.alias == alias))
                .first()
            )
            if row is None:
                raise NotFound(f"registered model '{name}' has no alias '{alias}'")
            return version_record(self.ctx, model, row)

        return self.ctx.read(work)
