"""The pure core imports no IO libraries (DESIGN.md, "Seams")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PATHS = [
    "connector/mail",
    "connector/routing",
    "connector/connect/jwt.py",
    "connector/jira/adf*.py",
    "connector/net/addresses.py",
]
FORBIDDEN = {
    "requests",
    "httpx",
    "sqlmodel",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "imaplib",
    "imap_tools",
    "poplib",
    "smtplib",
    "msal",
    "atlassian",
    "socket",
    "alembic",
}


def _pure_modules() -> list[Path]:
    modules: list[Path] = []
    for entry in PURE_PATHS:
        path = ROOT / entry
        if "*" in entry:
            modules.extend(sorted(ROOT.glob(entry)))
        elif path.is_dir():
            modules.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            modules.append(path)
    return modules


def forbidden_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [name for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def test_pure_modules_exist() -> None:
    assert ROOT.joinpath("connector/connect/jwt.py") in _pure_modules()


@pytest.mark.parametrize("module", _pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_has_no_io_imports(module: Path) -> None:
    assert forbidden_imports(module.read_text(encoding="utf-8")) == []


def test_forbidden_imports_detects_io_imports() -> None:
    source = "import requests\nfrom sqlmodel import Session\nfrom .x import y\nimport json\n"
    assert forbidden_imports(source) == ["requests", "sqlmodel"]
