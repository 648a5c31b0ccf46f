"""A wheel holds only the packages pyproject.toml lists: every folder of evoflow/ with Python
files must be among them (an editable install hides a missing one)."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]


def test_every_python_folder_is_a_listed_package():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts)
               for p in (REPO / "evoflow").rglob("*.py") if "__pycache__" not in p.parts}
    assert folders <= listed, sorted(folders - listed)
    assert cfg["package-dir"]["evoflow.envs"] == "envs" and "evoflow.envs" in listed
    assert cfg["package-data"]["evoflow.envs"] == ["*.json"]
