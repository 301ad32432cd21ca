"""trackwire.v1 is frozen: `buf breaking` against the committed image of v1 as released
(`protos/trackwire-v1.binpb`, what `make lint` checks) fails on a renumbered field and
passes on an added one."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
IMAGE = PROTOS / "trackwire-v1.binpb"
BUF = ROOT / ".venv" / "bin" / "buf"


def buf() -> str:
    found = str(BUF) if BUF.exists() else shutil.which("buf")
    if found is None:
        pytest.skip("buf is not installed (pip install buf-bin, or .venv/bin/buf)")
    return found


def breaking(protos: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [buf(), "breaking", "--against", str(IMAGE)],
        cwd=protos,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy(tmp_path) -> pathlib.Path:
    target = tmp_path / "protos"
    shutil.copytree(PROTOS, target, ignore=shutil.ignore_patterns("*.binpb"))
    return target


def test_the_committed_protos_match_the_frozen_image():
    result = breaking(PROTOS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_renumbered_field_breaks_v1(copy):
    proto = copy / "trackwire" / "v1" / "experiment.proto"
    text = proto.read_text()
    changed = text.replace("  string name = 2;\n", "  string name = 99;\n", 1)
    assert changed != text
    proto.write_text(changed)
    result = breaking(copy)
    assert result.returncode != 0
    assert 'field "2" with name "name" on message "Experiment"' in result.stdout, result.stdout


def test_an_added_field_keeps_v1(copy):
    proto = copy / "trackwire" / "v1" / "experiment.proto"
    text = proto.read_text()
    changed = re.sub(
        r"(message Experiment \{\n)",
        r"\1  // Optional. A field added after v1 was released.\n  string added_later = 99;\n",
        text,
        count=1,
    )
    assert changed != text
    proto.write_text(changed)
    result = breaking(copy)
    assert result.returncode == 0, result.stdout + result.stderr
