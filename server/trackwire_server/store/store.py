"""The store's facade: one database, and the parts the servicers call."""

from __future__ import annotations

from collections.abc import Callable

import peewee

from trackwire_server.store import migrations, read_routing, schema, statistics, unit_of_work
from trackwire_server.store.connecting import (
    holding_connection,
    is_pooled,
    is_postgresql,
    ping,
    start_wal_checkpoints,
)
from trackwire_server.store.context import StoreContext, Written
from trackwire_server.store.experiments import Experiments
from trackwire_server.store.grants import Grants
from trackwire_server.store.identities import Identities
from trackwire_server.store.metric_history import MetricHistory
from trackwire_server.store.model_versions import ModelVersions
from trackwire_server.store.purging import Purges
from trackwire_server.store.read_routing import REPLICA_RECONNECT_SECONDS
from trackwire_server.store.registered_models import RegisteredModels
from trackwire_server.store.request_log import RequestLog
from trackwire_server.store.run_search import RunSearch
from trackwire_server.store.runs import Runs
from trackwire_server.store.unit_of_work import RECONNECT_SECONDS
from trackwire_server.store.writes import now_ms


class Store:
    """Experiments, runs, their metric history, run search and the model registry, in
    one Peewee database. Each part's public methods are one unit of work each.

    `read_db`: a streaming replica of `db` (PostgreSQL) for the reads servicers make
    through `reads` (see read_routing); without one, `reads` is this Store."""

    def __init__(
        self,
        db: peewee.Database,
        artifact_root: str,
        read_db: peewee.Database | None = None,
        *,
        reconnect_seconds: float = RECONNECT_SECONDS,
    ):
        self.db = db
        self.context = StoreContext(db, schema.bind_tables(db), reconnect_seconds)
        self.t = self.context.t
        self.experiments = Experiments(self.context, artifact_root)
        self.metrics = MetricHistory(self.context)
        self.runs = Runs(self.context, self.metrics)
        self.search = RunSearch(self.context, self.experiments)
        self.registered_models = RegisteredModels(self.context)
        self.model_versions = ModelVersions(self.context)
        self.request_log = RequestLog(db, self.t, now_ms)
        self.identities = Identities(self.context)
        self.grants = Grants(self.context)
        self.purges = Purges(self.context)
        # The feed across servers: announcements made and heard (not on SQLite).
        self.feed = self.context.feed
        self._checkpoints = None
        self._statistics = None  # PostgreSQL: ANALYZE after bulk writes (statistics.py)
        # Where the reading RPCs read: this Store, or a ReadRouting between it and a
        # Store over the replica.
        self.reads: Store | read_routing.ReadRouting = self
        if read_db is not None:
            if not (is_postgresql(db) and is_postgresql(read_db)):
                raise ValueError("a read replica needs PostgreSQL, for it and for the primary")
            replica = Store(read_db, artifact_root, reconnect_seconds=REPLICA_RECONNECT_SECONDS)
            self.reads = read_routing.ReadRouting(self, replica)

    @property
    def replica(self) -> Store | None:
        """The Store over the read replica, if there is one."""
        return self.reads.replica if self.reads is not self else None

    def commit_position(self) -> int:
        """The primary's WAL position now, past every commit so far (read_routing)."""
        return unit_of_work.run(
            self.db,
            lambda: self.db.execute_sql(read_routing.INSERT_POSITION_SQL).fetchone()[0],
            write=False,
        )

    @property
    def metric_listeners(self) -> list[Callable[[Written], None]]:
        """Called after each commit that stored metric points, with
        {run_id: {key: (steps, timestamps, values)}}; the server's live feed."""
        return self.context.metric_listeners

    def initialize(self, migrate: bool = True) -> None:
        """Creates or migrates the schema (under the database's migration lock) and the
        default experiment; starts SQLite's background checkpoints. With `migrate`
        False, a schema older than this code's is refused (migrations.SchemaTooOld);
        a newer one always is (SchemaTooNew)."""
        if migrate:
            migrations.upgrade(self.db, self.t, then=self.experiments.create_default)
        else:
            with holding_connection(self.db), migrations.migration_lock(self.db):
                migrations.check(self.db, self.t)
                self.experiments.create_default()
        if self._checkpoints is None:
            self._checkpoints = start_wal_checkpoints(self.db)
        if self._statistics is None:
            self._statistics = statistics.attach(self.db)

    def ping(self) -> bool | None:
        """Whether the database answers now (None: unknown, every pooled connection is
        in use)."""
        return ping(self.db)

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
        if self._statistics is not None:
            self._statistics.stop()
            self._statistics = None
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        if is_pooled(self.db):
            self.db.close_all()
        else:
            self.db.close()
