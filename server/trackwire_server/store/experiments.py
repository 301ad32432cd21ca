"""Experiments: created, found, searched, renamed, deleted and restored with their
runs, and their tags."""

from __future__ import annotations

import peewee

from trackwire_server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from trackwire_server.limits import LIMITS
from trackwire_server.store.connecting import is_mysql
from trackwire_server.store.constants import (
    ACTIVE,
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    DELETED,
)
from trackwire_server.store.context import StoreContext
from trackwire_server.store.grants import (
    EXPERIMENT_RESOURCE,
    MANAGE,
    Visibility,
    insert_creator_grant,
)
from trackwire_server.store.inserts import upsert
from trackwire_server.store.paging import PageToken, checked_page_size, view_condition
from trackwire_server.store.records import ExperimentRecord
from trackwire_server.store.rows import experiment_row
from trackwire_server.store.search_queries import (
    EXPERIMENT_ATTRIBUTES,
    EXPERIMENT_GRAMMAR,
    QueryBuilder,
)
from trackwire_server.store.validation import (
    check_key,
    check_length,
    check_name,
    check_text,
    creation_time,
    parse_experiment_id,
)
from trackwire_server.store.writes import now_ms


class Experiments:
    """The experiments of one database."""

    def __init__(self, ctx: StoreContext, artifact_root: str):
        self.ctx = ctx
        self.t = ctx.t
        self.artifact_root = artifact_root.rstrip("/")

    def _record(self, row) -> ExperimentRecord:
        T = self.t.ExperimentTag
        tags = {t.key: t.value for t in T.select().where(T.experiment_id == row.experiment_id)}
        return ExperimentRecord(
            experiment_id=row.experiment_id,
            name=row.name,
            artifact_location=row.artifact_location,
            lifecycle_stage=row.lifecycle_stage,
            creation_time=row.creation_time,
            last_update_time=row.last_update_time,
            tags=tags,
        )

    def _check_name_free(self, name: str) -> None:
        existing = self.t.Experiment.get_or_none(self.t.Experiment.name == name)
        if existing is not None:
            state = "a deleted" if existing.lifecycle_stage == DELETED else "an"
            raise AlreadyExists(
                f"name '{name}' is taken by {state} experiment (id {existing.experiment_id})"
            )

    def create_default(self) -> None:
        """Creates the default experiment (id 0) unless it exists."""
        E = self.t.Experiment

        def work():
            if E.get_or_none(experiment_id=DEFAULT_EXPERIMENT_ID) is not None:
                return
            if is_mysql(self.ctx.db):
                # Without it MySQL takes an explicit 0 as "next auto-increment value".
                self.ctx.db.execute_sql(
                    "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"
                )
            ts = now_ms()
            E.insert(
                experiment_id=DEFAULT_EXPERIMENT_ID,
                name=DEFAULT_EXPERIMENT_NAME,
                artifact_location=f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                lifecycle_stage=ACTIVE,
                creation_time=ts,
                last_update_time=ts,
            ).execute()

        if E.get_or_none(experiment_id=DEFAULT_EXPERIMENT_ID) is None:
            self.ctx.write(work)

    def create_experiment(
        self,
        name: str,
        artifact_location: str = "",
        tags: dict[str, str] | None = None,
        created_ms: int | None = None,
        *,
        creator: int | None = None,
    ) -> ExperimentRecord:
        """Creates an experiment. `artifact_location` is one the caller has checked
        (`ArtifactLocations.experiment_location`); empty for `<artifact root>/<id>`.
        `created_ms`: its creation time (an import's), else now. `creator`: the id of the
        user given MANAGE on it in the same transaction."""
        check_name("name", name, LIMITS.max_experiment_name_length)
        tags = tags or {}
        for key, value in tags.items():
            check_key("tags.key", key)
            check_length(f"tags['{key}'].value", value, LIMITS.max_tag_value_length)
        E = self.t.Experiment

        def work():
            self._check_name_free(name)
            ts = creation_time("create_time", created_ms, now_ms())
            try:
                eid = E.insert(
                    name=name,
                    artifact_location=artifact_location,
                    lifecycle_stage=ACTIVE,
                    creation_time=ts,
                    last_update_time=ts,
                ).execute()
            except peewee.IntegrityError:
                raise AlreadyExists(f"name '{name}' is taken by an experiment") from None
            if not artifact_location:
                E.update(artifact_location=f"{self.artifact_root}/{eid}").where(
                    E.experiment_id == eid
                ).execute()
            if tags:
                self.t.ExperimentTag.insert_many(
                    [{"experiment_id": eid, "key": k, "value": v} for k, v in tags.items()]
                ).execute()
            if creator is not None:
                insert_creator_grant(self.t, EXPERIMENT_RESOURCE, eid, creator, MANAGE)
            return self._record(E.get_by_id(eid))

        return self.ctx.write(work)

    def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        return self.ctx.read(lambda: self._record(experiment_row(self.ctx, experiment_id)))

    def get_experiment_by_name(self, name: str) -> ExperimentRecord:
        if not name:
            raise InvalidArgument("name must not be empty")
        check_text("name", name)

        def work():
            row = self.t.Experiment.get_or_none(self.t.Experiment.name == name)
            if row is None:
                raise NotFound(f"experiment named '{name}' does not exist")
            return self._record(row)

        return self.ctx.read(work)

    def search_experiments(
        self,
        view_type: int = 0,
        page_size: int = 0,
        page_token: str = "",
        *,
        filter: str = "",
        order_by: list[str] = (),
        visible: Visibility | None = None,
    ) -> tuple[list[ExperimentRecord], str]:
        tree = EXPERIMENT_GRAMMAR.parse_filter(filter)
        order_keys = EXPERIMENT_GRAMMAR.parse_order_by(list(order_by))
        size = checked_page_size(page_size)
        fingerprint = PageToken.fingerprint("experiments", view_type, filter, list(order_by))
        offset = PageToken.decode(page_token, fingerprint)
        E = self.t.Experiment
        builder = QueryBuilder(
            E, "experiment_id", {"tag": self.t.ExperimentTag}, EXPERIMENT_ATTRIBUTES
        )
        where = view_condition(E.lifecycle_stage, view_type)
        if tree is not None:
            where = where & builder.condition(tree)
        if visible is not None:
            where = visible.condition(E.experiment_id) & where

        def work():
            query = builder.order(
                E.select().where(where),
                order_keys,
                [E.creation_time.desc(), E.experiment_id.desc()],
            )
            rows = list(query.offset(offset).limit(size + 1))
            return rows, [self._record(r) for r in rows[:size]]

        rows, records = self.ctx.read(work)
        token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
        return records, token

    def rename_experiment(self, experiment_id: str, name: str) -> ExperimentRecord:
        check_name("name", name, LIMITS.max_experiment_name_length)

        def work():
            row = experiment_row(self.ctx, experiment_id, lock=True)
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"experiment {experiment_id} is deleted")
            if row.name != name:
                self._check_name_free(name)
                row.name = name
                row.last_update_time = now_ms()
                row.save()
            return self._record(row)

        return self.ctx.write(work)

    def delete_experiment(self, experiment_id: str) -> None:
        def work():
            row = experiment_row(self.ctx, experiment_id, lock=True)
            if row.experiment_id == DEFAULT_EXPERIMENT_ID:
                raise FailedPrecondition("the default experiment (id 0) cannot be deleted")
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"experiment {experiment_id} is already deleted")
            R = self.t.Run
            # Runs deleted with the experiment carry its deletion time, which
            # restore_experiment matches; it must differ from the time of any
            # run deleted on its own before.
            latest = (
                R.select(peewee.fn.MAX(R.deleted_time))
                .where(R.experiment_id == row.experiment_id)
                .scalar()
            )
            ts = max(now_ms(), (latest or 0) + 1)
            row.lifecycle_stage, row.last_update_time = DELETED, ts
            row.save()
            R.update(lifecycle_stage=DELETED, deleted_time=ts).where(
                (R.experiment_id == row.experiment_id) & (R.lifecycle_stage == ACTIVE)
            ).execute()

        self.ctx.write(work)

    def restore_experiment(self, experiment_id: str) -> None:
        def work():
            row = experiment_row(self.ctx, experiment_id, lock=True)
            if row.lifecycle_stage == ACTIVE:
                raise FailedPrecondition(f"experiment {experiment_id} is not deleted")
            deleted_at = row.last_update_time
            row.lifecycle_stage, row.last_update_time = ACTIVE, now_ms()
            row.save()
            R = self.t.Run
            R.update(lifecycle_stage=ACTIVE, deleted_time=None).where(
                (R.experiment_id == row.experiment_id) & (R.deleted_time == deleted_at)
            ).execute()

        self.ctx.write(work)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        check_key("tag.key", key)
        check_length("tag.value", value, LIMITS.max_tag_value_length)

        def work():
            row = experiment_row(self.ctx, experiment_id, lock=True)
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"experiment {experiment_id} is deleted")
            T = self.t.ExperimentTag
            rows = [{"experiment_id": row.experiment_id, "key": key, "value": value}]
            upsert(T, rows, (T.experiment_id, T.key), (T.value,))

        self.ctx.write(work)

    def ids(
        self,
        experiment_ids: list[str],
        experiment_names: list[str],
        visible: Visibility | None = None,
    ) -> list[int]:
        """The ids of the experiments named by id or by name, sorted, inside the caller's
        unit of work; NOT_FOUND for an unknown name (or one `visible` hides); ids that
        `visible` hides are left out."""
        ids = [parse_experiment_id("experiment_ids", e) for e in experiment_ids]
        for i, name in enumerate(experiment_names):
            check_text(f"experiment_names[{i}]", name)
        if experiment_names:
            E = self.t.Experiment
            found = dict(
                E.select(E.name, E.experiment_id).where(E.name.in_(list(experiment_names))).tuples()
            )
            if visible is not None:
                found = {n: i for n, i in found.items() if visible.allows(i)}
            missing = [n for n in experiment_names if n not in found]
            if missing:
                raise NotFound(
                    f"experiment_names: no experiment named {', '.join(map(repr, missing))}"
                )
            ids += [found[n] for n in experiment_names]
        if not ids:
            raise InvalidArgument(
                "experiment_ids or experiment_names must name at least one experiment"
            )
        if visible is not None:
            ids = [i for i in ids if visible.allows(i)]
        return sorted(set(ids))
