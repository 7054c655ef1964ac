"""The dependency rule, read from the source (every import, lazy ones included), not import order.

bot.i18n     the user's language and the catalogs: nothing of the project (every layer speaks)
bot.model    plain values and rules: the model, the errors and the language
bot.settings the configuration: the model, the errors and the language
bot.metrics  the Prometheus metrics: the model and the errors (so every layer may record)
bot.keevx    the Keevx API: the model, the errors, the metrics, the language, itself
bot.jobs     the engine: the model, keevx, settings, errors, metrics, language, adapters.base
bot.app      wiring and operator tools: anything; the only importer of storage and adapters
storage      the stores: the model and the errors only
adapters     the platforms: the core and the shared web server and logs; never storage, the
             composition root or each other
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("bot", "adapters", "storage")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every project module ``path`` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (n for n in names if n.split(".")[0] in PROJECT)


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


# module prefix → what it may import from the project (beyond itself)
ALLOWED: dict[str, tuple[str, ...]] = {
    "bot.model": ("bot.model", "bot.errors", "bot.i18n"),
    "bot.errors": (),
    "bot.i18n": (),
    "bot.settings": ("bot.model", "bot.errors", "bot.i18n"),
    "bot.metrics": ("bot.model", "bot.errors"),
    "bot.keevx": ("bot.keevx", "bot.model", "bot.errors", "bot.metrics", "bot.i18n"),
    "bot.jobs": (
        "bot.jobs",
        "bot.keevx",
        "bot.model",
        "bot.errors",
        "bot.i18n",
        "bot.settings",
        "bot.metrics",
        "adapters.base",
    ),
    "storage": ("storage", "bot.model", "bot.errors"),
    "adapters.base": ("bot.model", "bot.errors"),
}


def _sources() -> list[Path]:
    return sorted(p for top in PROJECT for p in (ROOT / top).rglob("*.py"))


def _edges() -> list[tuple[str, str]]:
    return [(_module(p), imported) for p in _sources() for imported in _imports(p)]


def _forbidden(module: str, imported: str) -> str | None:
    for prefix, allowed in ALLOWED.items():
        if _within(module, prefix):
            if _within(imported, prefix, *allowed) or imported in ("bot", "adapters"):
                return None
            return f"{prefix} may import only {allowed or 'nothing of the project'}"
    if _within(imported, "storage") and not _within(module, "bot.app", "storage"):
        return "only bot.app (the composition root) imports storage"
    platform = _within(imported, "adapters.telegram", "adapters.discord")
    if platform and _within(module, "bot") and not _within(module, "bot.app"):
        return "only bot.app imports a platform adapter"
    for one, other in (("telegram", "discord"), ("discord", "telegram")):
        if _within(module, f"adapters.{one}") and _within(imported, f"adapters.{other}"):
            return "platforms never import each other"
    wiring = ("bot.app.runtime", "bot.app.cli", "bot.app.demo", "bot.app.doctor")
    if _within(module, "adapters") and _within(imported, "storage", *wiring):
        return "adapters talk to the core, never to storage or the wiring"
    return None


def test_the_walk_sees_lazy_and_relative_imports() -> None:
    edges = set(_edges())
    assert ("bot.app.runtime", "adapters.telegram") in edges  # a lazy import inside a function
    assert any(m == "bot.jobs.pipeline" and i.startswith("bot.keevx") for m, i in edges)


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("bot.model.job", "bot.jobs.service"),
        ("bot.jobs.pipeline", "storage.sqlite"),
        ("bot.jobs.pipeline", "adapters.telegram.adapter"),
        ("adapters.telegram.adapter", "adapters.discord.render"),
        ("adapters.discord.adapter", "storage"),
        ("adapters.telegram.adapter", "bot.app.runtime"),
        ("storage.sqlite", "bot.jobs.ports"),
        ("bot.keevx.client", "bot.jobs.pipeline"),
        ("bot.metrics", "bot.jobs.ports"),
        ("storage.sqlite", "bot.metrics"),
    ],
)
def test_the_rule_catches_a_forbidden_edge(module: str, imported: str) -> None:
    assert _forbidden(module, imported) is not None


def test_no_module_breaks_the_dependency_rule() -> None:
    broken = [
        f"{module} imports {imported}: {why}"
        for module, imported in _edges()
        if (why := _forbidden(module, imported)) is not None
    ]
    assert not broken, "\n".join(broken)
