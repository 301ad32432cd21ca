"""Running `trackwire` commands in tests: in-process through `trackwire.cli.main`, or as
a real `python -m trackwire` process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass

from trackwire.cli import main

REPO = pathlib.Path(__file__).resolve().parent.parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        assert self.code == 0, self.err
        return json.loads(self.out)


def trackwire(*argv: str, uri: str | None = None) -> Result:
    """Runs `trackwire *argv` in this process (with --tracking-uri `uri` after it);
    its exit code, stdout and stderr."""
    args = [*argv, *(["--tracking-uri", uri] if uri else [])]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def trackwire_process(*argv: str, env: dict | None = None, cwd=None) -> Result:
    """Runs `python -m trackwire *argv` as its own process, with this worktree's code."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO / "client"), str(REPO / "server")])
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "trackwire", *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
    )
    return Result(done.returncode, done.stdout, done.stderr)
