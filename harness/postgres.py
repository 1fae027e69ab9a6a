"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries (`make test`
installs the `postgresql` package), a cluster made by `initdb` in a temp folder, served by
`pg_ctl` on a free port of 127.0.0.1, removed when stopped. Nothing touches the machine's
own clusters. PostgreSQL refuses to run as root, so as root the cluster belongs to the
`postgres` user the package creates and its commands run as that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from harness.processes import free_port

SUPERUSER = "chatterbox"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: `make test` installs Debian's postgresql package")
    return found


class PostgresServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chatterbox-pg-"))
        self.port = free_port()
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.folder, "postgres")
        self._databases = 0

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, cwd=self.folder)

    def start(self) -> PostgresServer:
        self._run(_binary("initdb"), "-D", str(self.folder / "data"), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        self.resume()
        return self

    def pause(self) -> None:
        """Stop the server (fast shutdown: sessions are cut), keeping its data: the database
        is down until `resume`."""
        self._run(_binary("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(_binary("pg_ctl"), "-D", str(self.folder / "data"), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self) -> None:
        """Stop and remove the cluster."""
        self.pause()
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database of this server."""
        self._databases += 1
        name = f"test{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)
