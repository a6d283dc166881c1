"""The pure core reaches no IO, directly or through our own modules (DESIGN.md, "Seams").

The check follows imports transitively through `connector` modules: a pure module that imports
a module of ours which imports `sqlalchemy` (or `socket`, `requests`, ...) fails, with the chain
that leads there. Importing `connector.a.b` also runs `connector/__init__.py` and
`connector/a/__init__.py`, so parent packages count as imported.

SQL belongs to `storage/`: a module outside it that imports SQLAlchemy, SQLModel or Alembic
fails; others reach the database through the repositories on `Runtime`.

Packages import no cycle: no two top-level packages (`connector.storage`, `connector.outbound`,
`webhooks`, ...) reach each other, directly or through top-level modules. A top-level module may
be imported back by a package it imports: `connector.runtime` wires the packages together and
they take a `Runtime`.

Polling orchestrates: it imports neither `connector.jira` nor `connector.outbound` itself;
`connector.wiring` hands it what it needs of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PATHS = [
    "connector/mail",
    "connector/routing",
    "connector/pipeline/decide.py",
    "connector/outcomes.py",
    "connector/connect/jwt.py",
    "connector/forge/invocation.py",
    "connector/jira/adf*.py",
    "connector/net/addresses.py",
    "connector/resources",
    "connector/senders",
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
    "ssl",
    "alembic",
    "psycopg",
    "pebble",
    "multiprocessing",
    "subprocess",
    "http.client",
    "urllib.request",
    "dns",
}
SQL = {"sqlalchemy", "sqlmodel", "alembic"}


def _matches(name: str, libraries: Iterable[str]) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in libraries)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(name: str, source: str, *, is_package: bool = False) -> set[str]:
    """Every name `source` imports, absolute: modules, and `module.attribute` for each
    `from module import attribute` (the attribute may itself be a submodule)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


class ImportGraph:
    """Our modules, what each imports of ours, and which libraries each imports itself."""

    def __init__(self, sources: Mapping[str, tuple[str, bool]]) -> None:
        """`sources`: module name -> (source text, whether it is a package's __init__)."""
        self.ours: dict[str, set[str]] = {}
        self.libraries: dict[str, set[str]] = {}
        self.packages = {name for name, (_, is_package) in sources.items() if is_package}
        for name, (source, is_package) in sources.items():
            names = imported_names(name, source, is_package=is_package)
            self.ours[name] = {n for n in names if n in sources} | _parents(name, sources)
            self.libraries[name] = {n for n in names if n.split(".")[0] not in _roots(sources)}

    @classmethod
    def of_project(cls) -> ImportGraph:
        sources = {
            module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
            for folder in ("connector", "webhooks", "descriptor")
            for path in sorted((ROOT / folder).rglob("*.py"))
        }
        return cls(sources)

    def io_reached(self, start: str, forbidden: Iterable[str] = FORBIDDEN) -> list[str]:
        """Each forbidden library `start` reaches, as 'chain -> library'; [] when none."""
        forbidden = set(forbidden)
        chains: dict[str, list[str]] = {start: [start]}
        queue = [start]
        found: list[str] = []
        while queue:
            current = queue.pop(0)
            reached = {
                lib
                for lib in forbidden
                for name in self.libraries[current]
                if _matches(name, [lib])
            }
            found += [" -> ".join([*chains[current], lib]) for lib in sorted(reached)]
            for imported in sorted(self.ours[current]):
                if imported not in chains:
                    chains[imported] = [*chains[current], imported]
                    queue.append(imported)
        return found

    def sql_importers(self) -> set[str]:
        return {
            name
            for name, libraries in self.libraries.items()
            if not name.startswith("connector.storage")
            and any(_matches(library, SQL) for library in libraries)
        }

    def package_cycles(self) -> list[str]:
        """Each pair of top-level packages that reach each other, as the two unit chains."""
        units: dict[str, set[str]] = {}
        for name, imported in self.ours.items():
            for other in imported:
                if _unit(other) != _unit(name):
                    units.setdefault(_unit(name), set()).add(_unit(other))
        packages = sorted({_unit(name) for name in self.packages} - {"connector"})
        found = []
        for index, first in enumerate(packages):
            for second in packages[index + 1 :]:
                there, back = _path(units, first, second), _path(units, second, first)
                if there and back:
                    found.append(" -> ".join([*there, *back[1:]]))
        return found


def _unit(name: str) -> str:
    """The top-level package or module `name` belongs to: `connector.storage.models` ->
    `connector.storage`, `webhooks.events` -> `webhooks`."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "connector" else parts[0]


def _path(edges: Mapping[str, set[str]], start: str, goal: str) -> list[str]:
    """The shortest chain of units from `start` to `goal`; [] when there is none."""
    chains = {start: [start]}
    queue = [start]
    while queue:
        current = queue.pop(0)
        for following in sorted(edges.get(current, ())):
            if following not in chains:
                chains[following] = [*chains[current], following]
                if following == goal:
                    return chains[following]
                queue.append(following)
    return []


def _roots(sources: Mapping[str, tuple[str, bool]]) -> set[str]:
    return {name.split(".")[0] for name in sources}


def _parents(name: str, sources: Mapping[str, tuple[str, bool]]) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))} & set(sources)


def _pure_modules() -> list[str]:
    paths: list[Path] = []
    for entry in PURE_PATHS:
        path = ROOT / entry
        if "*" in entry:
            paths.extend(sorted(ROOT.glob(entry)))
        elif path.is_dir():
            paths.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            paths.append(path)
    return [module_name(path) for path in paths]


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph.of_project()


def test_pure_modules_exist() -> None:
    modules = _pure_modules()
    assert "connector.connect.jwt" in modules
    assert "connector.mail.message" in modules
    assert "connector.pipeline.decide" in modules
    assert "connector.routing" in modules  # the package's __init__ counts too


@pytest.mark.parametrize("module", _pure_modules())
def test_pure_module_reaches_no_io(graph: ImportGraph, module: str) -> None:
    assert graph.io_reached(module) == []


def test_polling_imports_neither_jira_nor_outbound(graph: ImportGraph) -> None:
    """Polling orchestrates; `connector.wiring` hands it the Jira and outbound sides."""
    direct = graph.ours["connector.polling"]
    assert "connector.pipeline.process" in direct  # the graph does see polling's imports
    reached = {name for name in direct if _matches(name, ["connector.jira", "connector.outbound"])}
    assert reached == set()


def test_sql_only_in_storage(graph: ImportGraph) -> None:
    assert graph.sql_importers() == set()


def test_packages_import_no_cycle(graph: ImportGraph) -> None:
    assert graph.package_cycles() == []


def test_package_cycles_found_directly_and_through_a_module() -> None:
    graph = ImportGraph(
        {
            "connector": ("", True),
            "connector.storage": ("", True),
            "connector.storage.outbound": ("from connector.outbound.config import Spec\n", False),
            "connector.outbound": ("", True),
            "connector.outbound.config": ("", False),
            "connector.outbound.queue": ("from connector.storage import outbound\n", False),
            "connector.runtime": ("import connector.sources\n", False),
            "connector.admin": ("", True),
            "connector.admin.api": ("from connector.runtime import Runtime\n", False),
            "connector.sources": ("from ..admin.api import page\n", True),
        }
    )
    assert graph.package_cycles() == [
        "connector.admin -> connector.runtime -> connector.sources -> connector.admin",
        "connector.outbound -> connector.storage -> connector.outbound",
    ]


def test_package_cycles_allow_a_module_imported_back_by_its_package() -> None:
    graph = ImportGraph(
        {
            "connector": ("", True),
            "connector.runtime": ("from connector.outbound import rendering\n", False),
            "connector.outbound": ("", True),
            "connector.outbound.rendering": ("", False),
            "connector.outbound.queue": ("from connector.runtime import Runtime\n", False),
        }
    )
    assert graph.package_cycles() == []


def test_io_reached_follows_our_modules_to_a_library() -> None:
    graph = ImportGraph(
        {
            "connector": ("", True),
            "connector.routing": ("", True),
            "connector.routing.filters": ("from connector.storage.log import EmailLog\n", False),
            "connector.storage": ("", True),
            "connector.storage.log": ("from sqlalchemy import text\nimport json\n", False),
        }
    )
    assert graph.io_reached("connector.routing.filters") == [
        "connector.routing.filters -> connector.storage.log -> sqlalchemy"
    ]
    assert graph.sql_importers() == set()  # storage/ may use SQL


def test_io_reached_counts_packages_and_relative_imports() -> None:
    graph = ImportGraph(
        {
            "connector": ("", True),
            "connector.mail": ("import socket\n", True),
            "connector.mail.message": ("from . import headers\n", False),
            "connector.mail.headers": ("from ..jira import client\n", False),
            "connector.jira": ("", True),
            "connector.jira.client": ("from requests.auth import AuthBase\n", False),
        }
    )
    assert graph.io_reached("connector.mail.message") == [
        "connector.mail.message -> connector.mail -> socket",
        "connector.mail.message -> connector.mail.headers -> connector.jira.client -> requests",
    ]


def test_sql_importers_finds_sql_outside_storage() -> None:
    graph = ImportGraph(
        {
            "connector": ("", True),
            "connector.admin": ("", True),
            "connector.admin.api": ("from sqlmodel import select\n", False),
        }
    )
    assert graph.sql_importers() == {"connector.admin.api"}
