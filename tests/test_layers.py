"""Imports flow one way through the layers, read from the real import statements (ast), and the check can fail."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import memory_mcp

PACKAGE = Path(memory_mcp.__file__).parent

LAYERS: Final[tuple[tuple[str, ...], ...]] = (
    # 0: plain values and rules, no I/O: any of these may import the others.
    (
        "memory_mcp.models",
        "memory_mcp.errors",
        "memory_mcp.config",
        "memory_mcp.filters",
        "memory_mcp.validation",
        "memory_mcp.paging",
        "memory_mcp.version",
        "memory_mcp.guidance",
        "memory_mcp.wire",
        "memory_mcp.tally",
        "memory_mcp.passwords",
        "memory_mcp.logs",
        "memory_mcp.scoring",
        "memory_mcp.locations",
        "memory_mcp.meaning",
        "memory_mcp.transcripts",
        "memory_mcp.extraction",
    ),
    # siblings; projects reads the file system for .git only, private makes files only their owner reads, capture
    # starts a background process and keeps its position
    ("memory_mcp.protocols", "memory_mcp.projects", "memory_mcp.private", "memory_mcp.capture"),
    ("memory_mcp.search", "memory_mcp.links"),
    ("memory_mcp.relevance",),  # what is relevant, and what is sensitive: the prompt hook and remembering
    # Siblings: none imports another. The engine receives its store, embedder and retriever (the app wires them).
    ("memory_mcp.embedders", "memory_mcp.stores", "memory_mcp.engine", "memory_mcp.chat"),
    ("memory_mcp.schemas",),
    ("memory_mcp.archive", "memory_mcp.checkup", "memory_mcp.recall", "memory_mcp.workers"),
    ("memory_mcp.server",),
    ("memory_mcp.app",),
    ("memory_mcp",),  # the package's own __init__: the public names, from every layer
    ("memory_mcp.cli",),
    ("memory_mcp.__main__",),
)
"""Lowest first: a module may import its own package, the modules of layer 0, and anything of a lower layer."""

THIRD_PARTY: Final = {
    "mcp": ("memory_mcp.server",),
    "starlette": ("memory_mcp.server",),
    "fastapi": ("memory_mcp.server",),
    "click": ("memory_mcp.cli",),
    "rich": ("memory_mcp.cli",),
    "asyncpg": ("memory_mcp.stores.postgres",),
    "pgvector": ("memory_mcp.stores.postgres",),
    "aiosqlite": ("memory_mcp.stores.sqlite",),
    "sentence_transformers": ("memory_mcp.embedders.local",),
    "httpx2": ("memory_mcp.embedders.openai", "memory_mcp.server.clients", "memory_mcp.chat"),
}
"""Libraries only one part may use: the engine and everything below it never see MCP, the CLI or a database driver."""

APART: Final = {"memory_mcp.stores": ("memory_mcp.search",)}
"""Lower parts a part must not import although the layers allow it: a store searches with its own SQL (the
constants both share live in `scoring`), never with the in-memory index or the searches built on it."""


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> Iterator[tuple[str, int]]:
    """(absolute module name, line) of every import in the file, relative ones resolved, submodules found."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import archive` imports the module memory_mcp.archive
                candidate = root.parent.joinpath(*f"{target}.{alias.name}".split("."))
                submodule = candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists()
                yield (f"{target}.{alias.name}" if submodule else target), node.lineno


def _layer(module: str) -> tuple[int, str]:
    """The layer of a module and the entry of LAYERS it falls under (the longest that names it or a parent)."""
    best: tuple[int, str] | None = None
    for number, entries in enumerate(LAYERS):
        for entry in entries:
            inside = module == entry or (entry != "memory_mcp" and module.startswith(entry + "."))
            if inside and (best is None or len(entry) > len(best[1])):
                best = (number, entry)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _inside(module: str, part: str) -> bool:
    return module == part or module.startswith(part + ".")


def violations(root: Path) -> list[str]:
    """Every import in the package under `root` that breaks the layer order or the third-party rules."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = _module_name(path, root)
        source_layer, source_entry = _layer(source)
        for target, line in _imports(path, root):
            where = f"{path.relative_to(root.parent)}:{line}"
            top = target.split(".")[0]
            if top == "memory_mcp":
                target_layer, target_entry = _layer(target)
                upward = target_layer > source_layer
                sibling = target_layer == source_layer and target_layer > 0 and target_entry != source_entry
                if upward or sibling:
                    found.append(f"{where}: {source} (layer {source_layer}) imports {target} (layer {target_layer})")
                elif any(
                    _inside(source, part) and any(_inside(target, banned) for banned in banned_parts)
                    for part, banned_parts in APART.items()
                ):
                    found.append(f"{where}: {source} imports {target}, a part it must keep apart from")
            elif top in THIRD_PARTY and not any(
                source == owner or source.startswith(owner + ".") for owner in THIRD_PARTY[top]
            ):
                found.append(f"{where}: {source} imports {top}, which only {', '.join(THIRD_PARTY[top])} may use")
    return found


def test_the_package_keeps_its_layers() -> None:
    """No module imports upward or across to a sibling part, and each library stays inside its part."""
    assert violations(PACKAGE) == []


def test_the_check_fails_when_a_rule_is_broken(tmp_path: Path) -> None:
    """The engine reaching up to the server or across to a store, a store using the CLI's library or the
    in-memory search, a sibling import: each is caught."""
    copy = tmp_path / "memory_mcp"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    engine = copy / "engine" / "writing.py"
    engine.write_text(
        engine.read_text() + "\nfrom ..server import build_server\nimport mcp.types\nfrom ..stores import SqliteStore\n"
    )
    store = copy / "stores" / "sqlite" / "store.py"
    store.write_text(
        store.read_text() + "\nimport click\nfrom ...embedders import HashEmbedder\nfrom ...search import NumpyIndex\n"
    )
    config = copy / "config.py"
    config.write_text(config.read_text() + "\nfrom .stores import open_store\n")

    found = violations(copy)

    assert any("memory_mcp.engine.writing (layer 4) imports memory_mcp.server (layer 7)" in line for line in found)
    assert any("memory_mcp.engine.writing (layer 4) imports memory_mcp.stores (layer 4)" in line for line in found)
    assert any("memory_mcp.engine.writing imports mcp" in line for line in found)
    assert any("memory_mcp.stores.sqlite.store imports click" in line for line in found)
    assert any("imports memory_mcp.embedders (layer 4)" in line for line in found)  # a sibling part
    assert any("memory_mcp.config (layer 0) imports memory_mcp.stores" in line for line in found)
    assert any(
        "stores.sqlite.store imports memory_mcp.search, a part it must keep apart from" in line for line in found
    )
    assert len(found) == 7
