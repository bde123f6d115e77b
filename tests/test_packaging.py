"""Packaging facts that are cheap to check without building (``make package-check`` builds)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from scheduler.cli import main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def test_version_flag_prints_the_pyproject_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"reload-chain {PROJECT['version']}"


def test_the_changelog_has_unreleased_and_the_current_version() -> None:
    headings = [
        line
        for line in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]
    assert headings[0] == "## [Unreleased]"
    assert any(line.startswith(f"## [{PROJECT['version']}] - ") for line in headings)


def test_no_development_dependency_is_a_runtime_dependency() -> None:
    def name(requirement: str) -> str:
        return re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0].lower()

    runtime = {name(r) for r in PROJECT["dependencies"]}
    development = {name(r) for r in PROJECT["optional-dependencies"]["dev"]}
    assert runtime and development and not runtime & development


def test_every_data_file_of_an_installed_package_is_declared() -> None:
    # A scenario added as JSON, say, must not silently miss from `pip install .`.
    package_data: dict[str, list[str]] = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package in ("scheduler", "jobs", "state", "qlik", "simulator"):
        for path in (ROOT / package).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT / package).as_posix()
            globs = package_data.get(package, [])
            assert any(fnmatch(relative, pattern) for pattern in globs), f"{package}/{relative}"
