"""Tests and benchmarks stay independent: neither tests/ nor bench/ imports the other, and devtools/ neither.

Read from the source with ast, so an import anywhere in a module (inside a function too) counts.
"""

import ast
from pathlib import Path

import pytest

from devtools.servers import REPO


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every absolute import in one module."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            imported.add(node.module.split(".")[0])
    return imported


def importers(folder: str, package: str) -> list[str]:
    """The modules under a folder of the repository that import a package."""
    return sorted(
        str(path.relative_to(REPO)) for path in (REPO / folder).rglob("*.py") if package in imported_packages(path)
    )


def test_imported_packages_sees_every_form_of_import(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "import os.path\nfrom bench.figures import within\nfrom . import sibling\n"
        "def late() -> None:\n    import tests.polling\n"
    )
    assert imported_packages(module) == {"os", "bench", "tests"}


@pytest.mark.parametrize("folder", ["tests", "bench"])
def test_tests_and_benchmarks_share_devtools(folder: str) -> None:
    assert importers(folder, "devtools")


@pytest.mark.parametrize(
    ("folder", "package"),
    [("tests", "bench"), ("bench", "tests"), ("devtools", "tests"), ("devtools", "bench")],
)
def test_folder_imports_nothing_from_package(folder: str, package: str) -> None:
    assert importers(folder, package) == []
