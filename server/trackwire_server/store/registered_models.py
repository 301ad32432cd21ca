"""Registered models: created, read, renamed, described, deleted with their versions,
searched; their tags and their aliases (a name for one of their versions)."""

from __future__ import annotations

import peewee

from trackwire_server.errors import AlreadyExists, NotFound
from trackwire_server.search.grammar import Grammar
from trackwire_server.store.context import StoreContext
from trackwire_server.store.grants import (
    MANAGE,
    MODEL_RESOURCE,
    Visibility,
    delete_resource_grants,
    insert_creator_grant,
)
from trackwire_server.store.inserts import upsert
from trackwire_server.store.paging import PageToken, checked_page_size
from trackwire_server.store.records import RegisteredModelRecord
from trackwire_server.store.registry_rows import (
    MAX_DESCRIPTION_LENGTH,
    check_alias,
    check_model_name,
    check_tags,
    model_record,
    model_row,
    parse_version,
    touch,
    version_row,
)
from trackwire_server.store.search_queries import (
    TAGGED_KINDS,
    Attribute,
    QueryBuilder,
    resource_times,
)
from trackwire_server.store.validation import check_length, check_lookup_key, creation_time
from trackwire_server.store.writes import now_ms

REGISTERED_MODEL_ATTRIBUTES = {
    "name": Attribute("name", allows_in=True),
    **resource_times("creation_timestamp", "last_updated_timestamp"),
}
REGISTERED_MODEL_GRAMMAR = Grammar(
    kinds=TAGGED_KINDS,
    bare_attributes=frozenset(REGISTERED_MODEL_ATTRIBUTES),
    examples="name, create_time, update_time or tags.<key>",
)


class RegisteredModels:
    """The registered models of one database."""

    def __init__(self, ctx: StoreContext):
        self.ctx = ctx
        self.db = ctx.db
        self.t = ctx.t

    def create_registered_model(
        self,
        name: str,
        description: str = "",
        tags: dict[str, str] | None = None,
        created_ms: int | None = None,
        *,
        creator: int | None = None,
    ) -> RegisteredModelRecord:
        """Creates a registered model; `creator`: the id of the user given MANAGE on it
        in the same transaction."""
        check_model_name("name", name)
        check_length("description", description, MAX_DESCRIPTION_LENGTH)
        tags = tags or {}
        check_tags("tags", tags)
        RM = self.t.RegisteredModel

        def work():
            if RM.get_or_none(RM.name == name) is not None:
                raise AlreadyExists(f"registered model '{name}' already exists")
            ts = creation_time("create_time", created_ms, now_ms())
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
            if creator is not None:
                insert_creator_grant(self.t, MODEL_RESOURCE, model_id, creator, MANAGE)
            return model_record(self.ctx, RM.get_by_id(model_id))

        return self.ctx.write(work)

    def get_registered_model(self, name: str) -> RegisteredModelRecord:
        return self.ctx.read(lambda: model_record(self.ctx, model_row(self.ctx, name)))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModelRecord:
        check_model_name("name", name, lookup=True)
        check_model_name("new_name", new_name)
        RM = self.t.RegisteredModel

        def work():
            row = model_row(self.ctx, name, lock=True)
            if new_name != name:
                if RM.get_or_none(RM.name == new_name) is not None:
                    raise AlreadyExists(f"registered model '{new_name}' already exists")
                row.name = new_name
                row.last_update_time = now_ms()
                try:
                    row.save()
                except peewee.IntegrityError:
                    raise AlreadyExists(f"registered model '{new_name}' already exists") from None
            return model_record(self.ctx, row)

        return self.ctx.write(work)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModelRecord:
        if description is not None:
            check_length("description", description, MAX_DESCRIPTION_LENGTH)

        def work():
            row = model_row(self.ctx, name, lock=True)
            if description is not None:
                row.description = description
                row.last_update_time = now_ms()
                row.save()
            return model_record(self.ctx, row)

        return self.ctx.write(work)

    def delete_registered_model(self, name: str) -> None:
        def work():
            row = model_row(self.ctx, name, lock=True)
            MV, MVT = self.t.ModelVersion, self.t.ModelVersionTag
            versions = MV.select(MV.model_version_id).where(MV.model_id == row.model_id)
            MVT.delete().where(MVT.model_version_id.in_(versions)).execute()
            MV.delete().where(MV.model_id == row.model_id).execute()
            for table in (self.t.RegisteredModelAlias, self.t.RegisteredModelTag):
                table.delete().where(table.model_id == row.model_id).execute()
            delete_resource_grants(self.t, MODEL_RESOURCE, row.model_id)
            row.delete_instance()

        self.ctx.write(work)

    def search_registered_models(
        self,
        filter: str = "",
        order_by: list[str] = (),
        page_size: int = 0,
        page_token: str = "",
        *,
        visible: Visibility | None = None,
    ) -> tuple[list[RegisteredModelRecord], str]:
        """One page of the models matching `filter` that `visible` lets the caller read
        (all when None)."""
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
        if visible is not None:
            where = visible.condition(RM.model_id) & where

        def work():
            query = builder.order(RM.select().where(where), order_keys, [RM.name, RM.model_id])
            rows = list(query.offset(offset).limit(size + 1))
            return rows, [model_record(self.ctx, r) for r in rows[:size]]

        rows, records = self.ctx.read(work)
        token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
        return records, token

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        check_tags("tag", {key: value})

        def work():
            row = model_row(self.ctx, name, lock=True)
            T = self.t.RegisteredModelTag
            rows = [{"model_id": row.model_id, "key": key, "value": value}]
            upsert(T, rows, (T.model_id, T.key), (T.value,))

        self.ctx.write(work)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        check_lookup_key("key", key)

        def work():
            row = model_row(self.ctx, name, lock=True)
            T = self.t.RegisteredModelTag
            if not T.delete().where((T.model_id == row.model_id) & (T.key == key)).execute():
                raise NotFound(f"registered model '{name}' has no tag '{key}'")

        self.ctx.write(work)

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        check_alias("alias", alias)
        parse_version("version", version)
        A = self.t.RegisteredModelAlias

        def work():
            model = model_row(self.ctx, name, lock=True)
            row = version_row(self.ctx, model, version)
            rows = [
                {
                    "model_id": model.model_id,
                    "alias": alias,
                    "model_version_id": row.model_version_id,
                }
            ]
            upsert(A, rows, (A.model_id, A.alias), (A.model_version_id,))
            touch(self.ctx, model, now_ms())

        self.ctx.write(work)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        check_alias("alias", alias)
        A = self.t.RegisteredModelAlias

        def work():
            model = model_row(self.ctx, name, lock=True)
            if not A.delete().where((A.model_id == model.model_id) & (A.alias == alias)).execute():
                raise NotFound(f"registered model '{name}' has no alias '{alias}'")
            touch(self.ctx, model, now_ms())

        self.ctx.write(work)
