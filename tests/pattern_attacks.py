"""Hostile inputs for regular expressions, and how the code calls each pattern.

A backtracking engine (Python's `re`) goes super-linear when one long run of characters can be
matched in many ways, or is rescanned from each of its positions, before the match fails. The
classic attack string is `prefix + pump * n + tail`: a prefix that reaches a repetition, the
repetition pumped, and a tail that makes the match fail. `attacks` builds such strings from the
pattern's own syntax tree, for every repetition it contains, plus runs of common characters.

`pattern_uses` reads the modules' source for how each compiled pattern is called: anchored
(`match`, `fullmatch`) or scanning (`search`, `finditer`, `sub`...), which tries every start.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

# The stdlib's own parser of patterns: private and without type stubs, but the same in the
# Python versions we run.
sre_parse: Any = importlib.import_module("re._parser")
sre: Any = importlib.import_module("re._constants")

SCANNING = frozenset({"search", "finditer", "findall", "sub", "subn", "split"})
ANCHORED = frozenset({"match", "fullmatch"})
# Characters tried where a pattern wants "some character of this class": one of each kind.
_KINDS = (" \t\n\xa0\u3000", "aZé_Жz", "0159", "-.@:>(<\"'/\\*=;,!#+[]?&%$~|{}^`)")
_POOL = "".join(_KINDS)
_TAILS = ("\x01", "")
# Runs that trip common shapes (`\w+@`, `\s*:`, `(?:[^">]+)*`) whatever the tree says.
_RUNS = (" ", "\t", "\n", "a", "1", ".", "-", "_", ">", "> ", "<a", "@", ":", "=", '"', "(", "a.")
_MAX_ATTACKS = 80
_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


@dataclass(frozen=True)
class Target:
    """A pattern under test: where it lives, and whether the code scans with it."""

    name: str
    pattern: re.Pattern[Any]
    scanning: bool
    methods: tuple[str, ...]  # the anchored methods used, when not scanning

    def run(self, text: Any) -> None:
        if self.scanning:
            for _ in self.pattern.finditer(text):
                pass
            return
        for method in self.methods:
            getattr(self.pattern, method)(text)


def _in_class(items: list[Any], char: str, flags: int) -> bool:
    negate = bool(items) and items[0][0] is sre.NEGATE
    found = False
    for op, av in items[1:] if negate else items:
        if op is sre.LITERAL:
            found = ord(char) == av
        elif op is sre.RANGE:
            found = av[0] <= ord(char) <= av[1]
        elif op is sre.CATEGORY:
            found = re.fullmatch(_CATEGORIES.get(av, "(?!)"), char, flags) is not None
        if found:
            break
    return found != negate


def _members(op: Any, av: Any, flags: int) -> str:
    """Pool characters one item can start with: at most one of each kind."""
    if op is sre.LITERAL:
        return chr(av)
    if op is sre.ANY:
        return "a"
    if op is sre.NOT_LITERAL:
        return next(c for c in _POOL if ord(c) != av)
    if op is sre.IN:
        found = (next((c for c in kind if _in_class(av, c, flags)), "") for kind in _KINDS)
        return "".join(found)
    return ""


def _sample(items: Any, flags: int) -> str:
    """A short string matching `items` (best effort: assertions and references are skipped)."""
    text = ""
    for op, av in items:
        if op in _REPEATS:
            text += _sample(av[2], flags) * av[0]
        elif op is sre.SUBPATTERN:
            text += _sample(av[3], flags)
        elif op is sre.ATOMIC_GROUP:
            text += _sample(av, flags)
        elif op is sre.BRANCH:
            text += _sample(av[1][0], flags)
        else:
            text += _members(op, av, flags)[:1]
    return text


def _pumps(body: Any, flags: int) -> list[str]:
    pumps = [_sample(body, flags)]
    if body:
        op, av = body[0]
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            pumps += list(_members(op, av, flags))
    return [pump for pump in dict.fromkeys(pumps) if pump]


def _repetitions(items: Any, prefix: str, flags: int) -> Iterator[tuple[str, list[str]]]:
    """(text that reaches it, pumps) for every repetition, on the first way through."""
    for index, (op, av) in enumerate(items):
        before = prefix + _sample(items[:index], flags)
        if op in _REPEATS:
            if av[1] is sre.MAXREPEAT or av[1] > 16:
                yield before, _pumps(av[2], flags)
            yield from _repetitions(av[2], before, flags)
        elif op is sre.SUBPATTERN:
            yield from _repetitions(av[3], before, flags)
        elif op is sre.ATOMIC_GROUP:
            yield from _repetitions(av, before, flags)
        elif op is sre.BRANCH:
            for branch in av[1][:8]:
                yield from _repetitions(branch, before, flags)


def attacks(pattern: re.Pattern[Any]) -> list[tuple[str, str, str]]:
    """(prefix, pump, tail) triples: the text is `prefix + pump * n + tail`."""
    source = pattern.pattern
    text = source.decode("latin-1") if isinstance(source, bytes) else source
    flags = pattern.flags & ~re.UNICODE if isinstance(source, bytes) else pattern.flags
    found = [
        (prefix, pump, tail)
        for prefix, pumps in _repetitions(sre_parse.parse(text, flags), "", flags)
        for pump in pumps
        for tail in _TAILS
    ]
    found += [("", run, "\x01") for run in _RUNS]
    return list(dict.fromkeys(found))[:_MAX_ATTACKS]


def hostile_text(pattern: re.Pattern[Any], attack: tuple[str, str, str], size: int) -> Any:
    prefix, pump, tail = attack
    text = prefix + pump * max(1, size // len(pump)) + tail
    if isinstance(pattern.pattern, bytes):
        return text.encode("utf-8")
    return text


def _modules(package: ModuleType, skip: tuple[str, ...]) -> list[ModuleType]:
    names = [
        info.name
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
        if not any(part in info.name for part in skip)
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def _calls(module: ModuleType) -> Iterator[tuple[str | None, str, ast.Call]]:
    """(name the method is called on, method, call) for every `x.method(...)` in a module."""
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            value = node.func.value
            name = (
                value.id
                if isinstance(value, ast.Name)
                else value.attr
                if isinstance(value, ast.Attribute)
                else None
            )
            yield name, node.func.attr, node


def _flags(call: ast.Call) -> int:
    flags = 0
    for argument in [*call.args[1:], *(k.value for k in call.keywords)]:
        for node in ast.walk(argument):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "re"
                and node.attr.isupper()
            ):
                flags |= getattr(re, node.attr)
    return flags


def pattern_uses(package: ModuleType, skip: tuple[str, ...] = ()) -> list[Target]:
    """Every module-level compiled pattern of the package's modules, and every literal pattern
    passed to `re.search`/`re.sub`/..., with the way the code calls it. A pattern whose name is
    never seen called (passed around, say) counts as scanning: the stricter test."""
    modules = _modules(package, skip)
    uses: dict[str, set[str]] = {}
    targets: list[Target] = []
    for module in modules:
        for name, method, call in _calls(module):
            if name == "re" and method in SCANNING | ANCHORED and call.args:
                literal = call.args[0]
                if isinstance(literal, ast.Constant) and isinstance(literal.value, str | bytes):
                    compiled = re.compile(literal.value, _flags(call))
                    label = f"{module.__name__}:re.{method}({literal.value!r})"
                    targets.append(Target(label, compiled, method in SCANNING, (method,)))
            elif name is not None and method in SCANNING | ANCHORED:
                # `pattern.match(text, pos)` in a loop tries every start like a search.
                at_position = len(call.args) > 1 or any(k.arg == "pos" for k in call.keywords)
                scans = method in SCANNING or at_position
                uses.setdefault(name, set()).add("scan" if scans else method)
    seen: set[int] = set()
    for module in modules:
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and id(value) not in seen:
                seen.add(id(value))
                how = uses.get(name, {"scan"})
                methods = tuple(sorted(how - {"scan"}))
                targets.append(Target(f"{module.__name__}.{name}", value, "scan" in how, methods))
    return targets
