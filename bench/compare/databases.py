"""The database of a `make bench-compare --db postgresql|mysql` run (issue #15).

Trackwire and MLflow each get a database of their own on the same server: Trackwire's is
the one `--db-url` names (default: $TRACKWIRE_BENCH_POSTGRES_URL / $TRACKWIRE_BENCH_MYSQL_URL,
else the local servers' defaults below), MLflow's the same name with MLFLOW_SUFFIX. The
driver drops and creates both before the run (`reset`), so each run starts empty, and
measures their sizes after it (`size_bytes`). MLflow reaches them through SQLAlchemy with
the driver that MLFLOW_DRIVERS installs into its venv.

Runs in the project's .venv (psycopg2 and PyMySQL are Trackwire's own database drivers).
"""

from __future__ import annotations

import os
import urllib.parse

KINDS = ("sqlite", "postgresql", "mysql")
URL_ENV = {"postgresql": "TRACKWIRE_BENCH_POSTGRES_URL", "mysql": "TRACKWIRE_BENCH_MYSQL_URL"}
DEFAULT_URLS = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/trackwire_bench_compare",
    "mysql": "mysql://root@127.0.0.1:3306/trackwire_bench_compare",
}
MLFLOW_SUFFIX = "_mlflow"
# What MLflow's SQLAlchemy needs for each database, installed into MLflow's venv (pinned).
MLFLOW_DRIVERS = {"postgresql": "psycopg2-binary==2.9.13", "mysql": "PyMySQL==1.2.4"}
MLFLOW_DIALECTS = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}


def default_url(kind: str) -> str:
    return os.environ.get(URL_ENV[kind]) or DEFAULT_URLS[kind]


def check_url(kind: str, url: str) -> str:
    """`url` if it names a database of `kind` (scheme and a database name), else ValueError."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != kind:
        raise ValueError(f"--db-url {url!r} is not a {kind}:// URL (--db {kind})")
    if not parts.path.strip("/"):
        raise ValueError(f"--db-url {url!r} names no database (…/NAME)")
    return url


def name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.strip("/")


def with_name(url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def without_password(url: str) -> str:
    """`url` as it may be printed and saved: a password replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def mlflow_database(url: str) -> str:
    """MLflow's database beside Trackwire's `url` (same server, name + MLFLOW_SUFFIX)."""
    return with_name(url, name(url) + MLFLOW_SUFFIX)


def mlflow_url(url: str) -> str:
    """MLflow's database beside Trackwire's `url`, as a SQLAlchemy URL for its server."""
    kind = urllib.parse.urlsplit(url).scheme
    parts = urllib.parse.urlsplit(mlflow_database(url))
    return urllib.parse.urlunsplit(parts._replace(scheme=MLFLOW_DIALECTS[kind]))


def _connect(url: str, database: str | None):
    """A connection to the server of `url` (to `database`, or to none / `postgres`)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "postgresql":
        import psycopg2

        conn = psycopg2.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=urllib.parse.unquote(parts.username or "postgres"),
            password=urllib.parse.unquote(parts.password or "") or None,
            dbname=database or "postgres",
        )
        conn.autocommit = True
        return conn
    import pymysql

    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=urllib.parse.unquote(parts.username or "root"),
        password=urllib.parse.unquote(parts.password or ""),
        database=database,
        autocommit=True,
    )


def reset(url: str) -> None:
    """Drops the database `url` names (closing other sessions on PostgreSQL) and creates it
    again, empty."""
    kind, database = urllib.parse.urlsplit(url).scheme, name(url)
    conn = _connect(url, None)
    try:
        with conn.cursor() as cur:
            if kind == "postgresql":
                cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{database}"')
            else:
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
                cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def size_bytes(url: str) -> int:
    """The database's size: pg_database_size, or the tables' data + index length (InnoDB's
    estimate, after ANALYZE TABLE) on MariaDB/MySQL."""
    kind, database = urllib.parse.urlsplit(url).scheme, name(url)
    conn = _connect(url, database)
    try:
        with conn.cursor() as cur:
            if kind == "postgresql":
                cur.execute("SELECT pg_database_size(current_database())")
                return int(cur.fetchone()[0])
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (database,),
            )
            tables = [row[0] for row in cur.fetchall()]
            if tables:
                cur.execute("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables))
                cur.fetchall()
            cur.execute(
                "SELECT COALESCE(SUM(data_length + index_length), 0) "
                "FROM information_schema.tables WHERE table_schema = %s",
                (database,),
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def server_processes(url: str) -> tuple[str, ...]:
    """What the database server's processes are called in /proc (their comm): the CPU
    they use is the database's share (servers.CpuSampler)."""
    kind = urllib.parse.urlsplit(url).scheme
    return ("postgres",) if kind == "postgresql" else ("mariadbd", "mysqld")


def server_version(url: str) -> str:
    """The database server's name and version, e.g. "PostgreSQL 15.20", "MariaDB 10.11.19"."""
    kind, database = urllib.parse.urlsplit(url).scheme, name(url)
    conn = _connect(url, database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version()")
            text = str(cur.fetchone()[0])
    finally:
        conn.close()
    if kind == "postgresql":
        return " ".join(text.split()[:2])
    flavour = "MariaDB" if "mariadb" in text.lower() else "MySQL"
    return f"{flavour} {text.split('-')[0]}"
