"""Tables, bound per database.

Each `Store` binds its own copies of the model classes to its own
database (`bind_tables`), so one process can serve several databases (tests
do). Schema changes are new entries in `schema_versions.MIGRATIONS`, applied in order
(under a lock in the database: `migrations`); a table definition already released is
never edited in place.
"""

from __future__ import annotations

from types import SimpleNamespace

import peewee
from peewee import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    CharField,
    CompositeKey,
    DoubleField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
)


class ChunkDataField(peewee.BlobField):
    """Binary column that holds a whole chunk: LONGBLOB on MySQL (BLOB stops at 64 KiB)."""

    def ddl_datatype(self, ctx):
        if isinstance(self.model._meta.database, peewee.MySQLDatabase):
            return peewee.SQL("LONGBLOB")
        return super().ddl_datatype(ctx)


class SchemaVersion(Model):
    version = IntegerField()

    class Meta:
        table_name = "schema_version"


class Experiment(Model):
    experiment_id = AutoField()
    name = CharField(max_length=500, unique=True)
    artifact_location = TextField()
    lifecycle_stage = SmallIntegerField()
    creation_time = BigIntegerField()
    last_update_time = BigIntegerField()

    class Meta:
        table_name = "experiments"


class ExperimentTag(Model):
    experiment_id = IntegerField()
    key = CharField(max_length=250)
    value = TextField()

    class Meta:
        table_name = "experiment_tags"
        primary_key = CompositeKey("experiment_id", "key")


class Run(Model):
    run_id = CharField(max_length=32, primary_key=True)
    experiment_id = IntegerField()
    name = CharField(max_length=250)
    status = SmallIntegerField()
    start_time = BigIntegerField()
    end_time = BigIntegerField(null=True)
    artifact_uri = TextField()
    lifecycle_stage = SmallIntegerField()
    parent_run_id = CharField(max_length=32, null=True, index=True)
    user_id = CharField(max_length=250)
    deleted_time = BigIntegerField(null=True)

    class Meta:
        table_name = "runs"
        indexes = ((("experiment_id", "lifecycle_stage", "start_time"), False),)


class Param(Model):
    run_id = CharField(max_length=32)
    key = CharField(max_length=250)
    value = TextField()

    class Meta:
        table_name = "params"
        primary_key = CompositeKey("run_id", "key")


class RunTag(Model):
    run_id = CharField(max_length=32)
    key = CharField(max_length=250)
    value = TextField()

    class Meta:
        table_name = "run_tags"
        primary_key = CompositeKey("run_id", "key")


class LatestMetric(Model):
    """The latest point of each (run, key): what GetRun and search read.

    `value` is NULL for NaN, clamped to +-DBL_MAX for the infinities and 0 for
    -0.0 (MySQL stores none of them; SQLite drops the sign of zero); `special`
    says which, so the value round-trips exactly.
    """

    run_id = CharField(max_length=32)
    key = CharField(max_length=250)
    value = DoubleField(null=True)
    special = SmallIntegerField()
    step = BigIntegerField()
    timestamp = BigIntegerField()
    # The run's experiment (runs never move): sorting an experiment's runs by a
    # metric walks (experiment_id, key, value) and stops after one page.
    experiment_id = IntegerField()

    class Meta:
        table_name = "latest_metrics"
        primary_key = CompositeKey("run_id", "key")
        indexes = ((("experiment_id", "key", "value"), False),)


class MetricChunk(Model):
    """A run of points of one (run, key), packed by `metric_codec`."""

    chunk_id = BigAutoField()
    run_id = CharField(max_length=32)
    key = CharField(max_length=250)
    min_step = BigIntegerField()
    max_step = BigIntegerField()
    point_count = IntegerField()
    data = ChunkDataField()

    class Meta:
        table_name = "metric_chunks"
        indexes = ((("run_id", "key", "chunk_id"), False),)


class WriterProgress(Model):
    """The last batch committed per metric writer: what makes resends idempotent."""

    writer_id = CharField(max_length=64, primary_key=True)
    sequence_number = BigIntegerField()
    update_time = BigIntegerField()

    class Meta:
        table_name = "writer_progress"


TABLES = (
    SchemaVersion,
    Experiment,
    ExperimentTag,
    Run,
    Param,
    RunTag,
    LatestMetric,
    MetricChunk,
    WriterProgress,
)


# On SQLite these tables are WITHOUT ROWID: rows live in their primary key's b-tree
# (as InnoDB stores every table), so a lookup by (run_id, key) is one b-tree descent
# instead of two, and a write touches one b-tree less. Search and run creation are
# mostly such lookups and writes. (Databases created before this keep rowid tables;
# they behave the same, a little slower.)
CLUSTERED_ON_PRIMARY_KEY = (ExperimentTag, Run, Param, RunTag, LatestMetric)


# -- model registry (migration 2) ---------------------------------------------------


class RegisteredModel(Model):
    """A named model. `last_version` is the highest version number ever given: the
    next version takes last_version + 1 while this row is locked, so numbers are
    dense and never reused."""

    model_id = AutoField()
    name = CharField(max_length=256, unique=True)
    description = TextField()
    creation_time = BigIntegerField()
    last_update_time = BigIntegerField()
    last_version = IntegerField()

    class Meta:
        table_name = "registered_models"


class RegisteredModelTag(Model):
    model_id = IntegerField()
    key = CharField(max_length=250)
    value = TextField()

    class Meta:
        table_name = "registered_model_tags"
        primary_key = CompositeKey("model_id", "key")


class ModelVersion(Model):
    """One version of a registered model: a pointer into a run's artifacts."""

    model_version_id = AutoField()
    model_id = IntegerField()
    version = IntegerField()
    creation_time = BigIntegerField()
    last_update_time = BigIntegerField()
    user_id = CharField(max_length=250)
    current_stage = CharField(max_length=20)
    description = TextField()
    source = TextField()
    run_id = CharField(max_length=32, index=True)
    status = SmallIntegerField()
    status_message = TextField()

    class Meta:
        table_name = "model_versions"
        indexes = (
            (("model_id", "version"), True),
            (("model_id", "current_stage", "version"), False),
        )


class ModelVersionTag(Model):
    model_version_id = IntegerField()
    key = CharField(max_length=250)
    value = TextField()

    class Meta:
        table_name = "model_version_tags"
        primary_key = CompositeKey("model_version_id", "key")


class RegisteredModelAlias(Model):
    model_id = IntegerField()
    alias = CharField(max_length=255)
    model_version_id = IntegerField(index=True)

    class Meta:
        table_name = "registered_model_aliases"
        primary_key = CompositeKey("model_id", "alias")


REGISTRY_TABLES = (
    RegisteredModel,
    RegisteredModelTag,
    ModelVersion,
    ModelVersionTag,
    RegisteredModelAlias,
)


# -- client request ids (migration 3) -------------------------------------------------


class RequestLog(Model):
    """The request id of each mutating call that gave one, recorded in the call's own
    transaction with a fingerprint of the request and the response it got (see
    `request_log`): a retry is answered from here instead of being applied again."""

    request_id = CharField(max_length=64, primary_key=True)
    fingerprint = CharField(max_length=32)
    response = ChunkDataField()
    create_time = BigIntegerField(index=True)

    class Meta:
        table_name = "request_log"


REQUEST_TABLES = (RequestLog,)


# -- users, teams, tokens and grants (migration 4) -------------------------------------


class User(Model):
    """A person (with a password hash) or a service account (tokens only)."""

    user_id = AutoField()
    name = CharField(max_length=64, unique=True)
    # argon2id hash (the argon2-cffi encoding); null for a service account.
    password_hash = TextField(null=True)
    admin = SmallIntegerField()
    service_account = SmallIntegerField()
    disabled = SmallIntegerField()
    create_time = BigIntegerField()

    class Meta:
        table_name = "users"


class ApiToken(Model):
    """An API or sign-in token; only the SHA-256 of its secret is kept."""

    token_id = AutoField()
    user_id = IntegerField(index=True)
    secret_sha256 = CharField(max_length=64, unique=True)
    prefix = CharField(max_length=16)
    description = TextField()
    create_time = BigIntegerField()
    expire_time = BigIntegerField(null=True)
    revoke_time = BigIntegerField(null=True)

    class Meta:
        table_name = "api_tokens"


class Team(Model):
    team_id = AutoField()
    name = CharField(max_length=64, unique=True)
    create_time = BigIntegerField()

    class Meta:
        table_name = "teams"


class TeamMember(Model):
    team_id = IntegerField()
    user_id = IntegerField(index=True)

    class Meta:
        table_name = "team_members"
        primary_key = CompositeKey("team_id", "user_id")


class PermissionGrant(Model):
    """A user's or team's level on one experiment or registered model (by model id, so
    that a rename keeps it)."""

    resource_type = SmallIntegerField()  # 1 experiment, 2 registered model
    resource_id = IntegerField()
    principal_type = SmallIntegerField()  # 1 user, 2 team
    principal_id = IntegerField()
    level = SmallIntegerField()  # PermissionLevel's number

    class Meta:
        table_name = "permission_grants"
        primary_key = CompositeKey("resource_type", "resource_id", "principal_type", "principal_id")
        indexes = ((("principal_type", "principal_id"), False),)


AUTH_TABLES = (User, ApiToken, Team, TeamMember, PermissionGrant)


# -- the live feed's commit log (migration 5) -------------------------------------------


class MetricCommitLog(Model):
    """One row per committed unit of work that stored metric points, written in its own
    transaction: how servers on MariaDB/MySQL learn of each other's points
    (`feed_announcements`; PostgreSQL uses NOTIFY instead, SQLite has one server).
    `payload` names the runs and the chunk slices that hold the new points; `origin`
    is the writing server's instance id. Trimmed as it goes by the servers polling it."""

    commit_id = BigAutoField()
    origin = CharField(max_length=32)
    payload = ChunkDataField()

    class Meta:
        table_name = "metric_commit_log"


FEED_TABLES = (MetricCommitLog,)


# -- the runs the servers watch (migration 6) -------------------------------------------


class FeedWatch(Model):
    """A run that some WatchMetrics stream on server `server_id` (its store's instance id)
    watches, until `expires_ms` (the database's clock, epoch milliseconds; refreshed by
    the server's heartbeat, so that a killed server's rows lapse). A write announces its
    points to the other servers only while its run has an unexpired row of another
    server (`feed_announcements`)."""

    run_id = CharField(max_length=32)
    server_id = CharField(max_length=32)
    expires_ms = BigIntegerField()

    class Meta:
        table_name = "feed_watches"
        primary_key = CompositeKey("run_id", "server_id")


WATCH_TABLES = (FeedWatch,)
ALL_TABLES = (
    *TABLES,
    *REGISTRY_TABLES,
    *REQUEST_TABLES,
    *AUTH_TABLES,
    *FEED_TABLES,
    *WATCH_TABLES,
)


def _mysql_collation(db: peewee.Database) -> str:
    """A binary, NO PAD collation: keys, names and values compare exactly as on SQLite
    and PostgreSQL (case and trailing spaces count)."""
    with db.connection_context():
        for collation in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin"):  # MariaDB, MySQL 8
            if db.execute_sql("SHOW COLLATION LIKE %s", (collation,)).fetchone():
                return collation
    return "utf8mb4_bin"


def bind_tables(db: peewee.Database) -> SimpleNamespace:
    """Returns subclasses of every table bound to `db`, by class name."""
    bound = {}
    settings = {}
    if isinstance(db, peewee.MySQLDatabase):
        settings["table_settings"] = [f"DEFAULT CHARSET=utf8mb4 COLLATE={_mysql_collation(db)}"]
    clustered = isinstance(db, peewee.SqliteDatabase)
    for table in ALL_TABLES:
        options = {"database": db, "table_name": table._meta.table_name, **settings}
        if clustered and table in CLUSTERED_ON_PRIMARY_KEY:
            options["without_rowid"] = True
        meta = type("Meta", (), options)
        bound[table.__name__] = type(
            table.__name__, (table,), {"Meta": meta, "__module__": __name__}
        )
    return SimpleNamespace(**bound)
