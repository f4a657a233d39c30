"""Test helpers live in tests/support: a test module never imports another test module (a helper moved or renamed
there would break tests that do not mention it, and pytest would collect the imported module's tests twice)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(source: str, package: str) -> list[str]:
    """The modules `source` imports, relative imports resolved against `package` (say "tests.integration")."""
    parts = package.split(".")
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]  # `from tests.unit import test_x`
    return names


def is_test_module(name: str) -> bool:
    return name.startswith("tests.") and any(part.startswith("test_") for part in name.split("."))


def test_no_test_module_imports_another_test_module():
    offenders = {
        str(path.relative_to(TESTS.parent)): [
            name for name in imported_modules(path.read_text(), package) if is_test_module(name)
        ]
        for path in TESTS.rglob("*.py")
        for package in [".".join(path.relative_to(TESTS.parent).parent.parts)]
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_every_spelling_of_an_import_of_a_test_module():
    # Given a test module of tests/integration importing another in each of the ways Python allows
    source = (
        "import tests.integration.test_organization\n"
        "from tests.integration.test_follow_through import x\n"
        "from tests.integration import test_organization\n"
        "from .test_organization import y\n"
        "from tests.support.followups import batch\n"
    )

    found = [name for name in imported_modules(source, "tests.integration") if is_test_module(name)]

    assert found == [
        "tests.integration.test_organization",
        "tests.integration.test_follow_through",
        "tests.integration.test_follow_through.x",
        "tests.integration.test_organization",
        "tests.integration.test_organization",
        "tests.integration.test_organization.y",
    ]
