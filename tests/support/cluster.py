"""Several Trackwire servers on one database and one artifact root: a fleet in a test.

Each server is a process of its own (tests/support/server_process.py) over the same
PostgreSQL or MariaDB database and, with `s3=`, the same SeaweedFS bucket
(tests/support/seaweedfs.py). The servers start at the same moment, as a fleet rolled out
together does; one can be SIGKILLed and restarted on the same port, so that a client
holding the fleet's address list finds it again.

    with Cluster(db_url, tmp_path, size=3, s3=s3) as cluster:
        client = trackwire.TrackwireClient(cluster.uri)   # grpc://h:p1,h:p2,h:p3
        cluster.kill(1)
        cluster.restart(1)

`cluster_database` is a fixture giving an empty PostgreSQL and an empty MariaDB database
(the shared test servers of tests/conftest.py), skipped with the reason when absent.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.conftest import LOCAL_URLS, MYSQL_ENV, POSTGRES_ENV, database_url, reset_database
from tests.support.seaweedfs import SeaweedS3
from tests.support.server_process import ServerProcess


class Cluster:
    """`size` servers over `db_url`; artifacts under `folder`/artifacts, or in `s3`'s bucket."""

    def __init__(
        self,
        db_url: str,
        folder: Path,
        *,
        size: int = 3,
        s3: SeaweedS3 | None = None,
        s3_prefix: str = "trackwire",
        extra_args: tuple[str, ...] = (),
        workers: int | None = None,
    ):
        self.db_url = db_url
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.s3 = s3
        self.extra_args = tuple(extra_args)
        self.workers = workers
        if s3 is not None:
            self.artifacts = f"s3://{s3.bucket}/{s3_prefix}"
            self.storage_args: tuple[str, ...] = tuple(
                arg
                for name, value in s3.storage_options.items()
                for arg in ("--artifacts-option", f"{name}={value}")
            )
        else:
            self.artifacts = str(self.folder / "artifacts")
            self.storage_args = ()
        self.servers: list[ServerProcess] = [self._new(i) for i in range(size)]

    def _new(self, index: int, port: int = 0) -> ServerProcess:
        log_dir = self.folder / f"server-{index}"
        log_dir.mkdir(exist_ok=True)
        return ServerProcess(
            self.db_url,
            self.artifacts,
            workers=self.workers,
            extra_args=(*self.storage_args, *self.extra_args),
            log_dir=log_dir,
            port=port,
        )

    def start(self) -> Cluster:
        """Starts every server at the same moment; returns once all listen (the first
        failure is raised, with that server's output)."""
        errors: list[BaseException] = []

        def start(server: ServerProcess) -> None:
            try:
                server.start()
            except BaseException as e:  # noqa: BLE001 - re-raised below
                errors.append(e)

        threads = [threading.Thread(target=start, args=(s,)) for s in self.servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    @property
    def targets(self) -> list[str]:
        return [server.target for server in self.servers]

    @property
    def uri(self) -> str:
        """The fleet as one tracking URI: `grpc://host:p1,host:p2,...`."""
        return "grpc://" + ",".join(self.targets)

    def kill(self, index: int) -> None:
        """SIGKILLs server `index` (its whole process group): no goodbye to its clients."""
        self.servers[index].kill()

    def restart(self, index: int) -> ServerProcess:
        """Starts server `index` again on the port it had."""
        old = self.servers[index]
        if old.alive:
            old.kill()
        self.servers[index] = self._new(index, port=old.port or 0)
        return self.servers[index].start()

    def outputs(self) -> str:
        return "\n".join(
            f"--- server {i} (port {s.port}) ---\n{s.output_tail(60)}"
            for i, s in enumerate(self.servers)
        )

    def stop(self) -> None:
        """SIGTERM to every server at once, SIGKILL to those still up after 5 s."""
        threads = [threading.Thread(target=s.stop, args=(5.0,)) for s in self.servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(params=["postgresql", "mysql"])
def cluster_database(request) -> str:
    """An empty database on the shared PostgreSQL, then on the shared MariaDB."""
    env = POSTGRES_ENV if request.param == "postgresql" else MYSQL_ENV
    url = database_url(env)
    if not url:
        pytest.skip(
            f"{request.param} cluster tests need ${env} or a server answering at {LOCAL_URLS[env]}"
        )
    reset_database(url)
    return url
