"""The Python environment a model was saved in: requirements.txt and python_env.yaml
with exact versions, and the load-time check against what is installed."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import warnings
from collections.abc import Iterable

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"

_PINNED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


class EnvironmentMismatchWarning(UserWarning):
    """The model was saved with other versions of Python or of its packages."""


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned(distributions: Iterable[str]) -> list[str]:
    """`name==version` for each installed distribution (the first found of a `a|b`
    alternative, e.g. "xgboost|xgboost-cpu"), in order, without repeats."""
    lines: list[str] = []
    for entry in distributions:
        for name in entry.split("|"):
            version = installed_version(name)
            if version is not None:
                line = f"{name}=={version}"
                if line not in lines:
                    lines.append(line)
                break
    return lines


def write_environment(path: str, requirements: Iterable[str]) -> None:
    """Writes requirements.txt and python_env.yaml into the model directory `path`."""
    import yaml

    lines = list(requirements)
    with open(os.path.join(path, REQUIREMENTS_FILE), "w") as f:
        f.write("".join(f"{line}\n" for line in lines))
    build = pinned(["pip", "setuptools", "wheel"])
    with open(os.path.join(path, PYTHON_ENV_FILE), "w") as f:
        yaml.safe_dump(
            {
                "python": platform.python_version(),
                "build_dependencies": build,
                "dependencies": [f"-r {REQUIREMENTS_FILE}"],
            },
            f,
            sort_keys=False,
        )


def check_environment(path: str) -> list[str]:
    """Warns (EnvironmentMismatchWarning) about each package whose installed version
    differs from the model's requirements.txt, and about another Python minor version.
    Returns the mismatches."""
    import yaml

    problems: list[str] = []
    env_file = os.path.join(path, PYTHON_ENV_FILE)
    if os.path.exists(env_file):
        with open(env_file) as f:
            saved_python = str((yaml.safe_load(f) or {}).get("python", ""))
        here = platform.python_version()
        if saved_python and saved_python.split(".")[:2] != here.split(".")[:2]:
            problems.append(f"python {saved_python} (running {here})")
    req_file = os.path.join(path, REQUIREMENTS_FILE)
    if os.path.exists(req_file):
        with open(req_file) as f:
            for line in f:
                match = _PINNED.match(line)
                if not match:
                    continue
                name, wanted = match.groups()
                have = installed_version(name)
                if have != wanted:
                    problems.append(
                        f"{name}=={wanted} (installed: {have if have else 'not installed'})"
                    )
    if problems:
        warnings.warn(
            f"the model at {path} was saved with "
            + ", ".join(problems)
            + "; it may fail to load or predict differently. Its requirements.txt lists "
            "the exact versions.",
            EnvironmentMismatchWarning,
            stacklevel=3,
        )
    return problems
