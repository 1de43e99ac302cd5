"""Per-project memories over MCP: the project comes from the client's roots (or the setting), and stays apart."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.types import ListRootsResult, Root

from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server

from ..helpers import data, error_text


def repository(tmp_path: Path, name: str) -> Path:
    """A folder that is a git repository's top (a `.git` folder is all that takes), with a subfolder."""
    top = tmp_path / name
    (top / ".git").mkdir(parents=True)
    (top / "src").mkdir()
    return top


def rooted(folder: Path) -> Any:
    """A client's roots/list answer: one root, `folder`. (Roots are a handshake-era feature, which Claude Code and
    VS Code speak: the clients below use `mode="legacy"`; the 2026-07-28 protocol deprecates roots.)"""

    async def roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=folder.as_uri(), name=folder.name)])  # type: ignore[arg-type]

    return roots


def texts(result: Any, key: str = "memories") -> set[str]:
    return {item["text"] for item in data(result)[key]}


async def test_two_workspaces_keep_their_project_memories_apart(engine: MemoryEngine, tmp_path: Path) -> None:
    server = build_server(engine, default_user="sam")
    alpha, beta = repository(tmp_path, "alpha"), repository(tmp_path, "beta")
    # The host opened alpha/src: its project is the repository's, "alpha".
    async with Client(server, mode="legacy", list_roots_callback=rooted(alpha / "src")) as in_alpha:
        general = data(await in_alpha.call_tool("add_memory", {"text": "Sam indents with tabs"}))
        assert general["project"] is None  # kept for the user everywhere unless told otherwise
        kept = data(await in_alpha.call_tool("add_memory", {"text": "Deploys go out on Fridays", "project": "current"}))
        assert kept["project"] == "alpha"
    async with Client(server, mode="legacy", list_roots_callback=rooted(beta)) as in_beta:
        await in_beta.call_tool("add_memory", {"text": "The app is written in Rust", "project": "current"})
        assert texts(await in_beta.call_tool("list_memories", {})) == {
            "Sam indents with tabs",
            "The app is written in Rust",
        }
        found = data(await in_beta.call_tool("search_memory", {"query": "when do deploys go out", "threshold": -1}))
        assert "Deploys go out on Fridays" not in {hit["text"] for hit in found["results"]}
        # Asked for, the other project's memories are there.
        every = await in_beta.call_tool("list_memories", {"project": "*"})
        assert "Deploys go out on Fridays" in texts(every)
        named = await in_beta.call_tool("search_memory", {"query": "deploys", "project": "alpha", "threshold": -1})
        assert "Deploys go out on Fridays" in texts(named, "results")
    async with Client(server, mode="legacy", list_roots_callback=rooted(alpha)) as again:
        assert texts(await again.call_tool("list_memories", {})) == {
            "Sam indents with tabs",
            "Deploys go out on Fridays",
        }
        # Forgetting the project's memories leaves the general ones.
        assert data(await again.call_tool("list_memories", {"limit": 1}))["total"] == 2
    async with Client(
        build_server(engine, default_user="sam", tools="all"), mode="legacy", list_roots_callback=rooted(alpha)
    ) as c:
        assert data(await c.call_tool("delete_all_memories", {"project": "current"}))["deleted"] == 1
        assert texts(await c.call_tool("list_memories", {"project": "*"})) == {
            "Sam indents with tabs",
            "The app is written in Rust",
        }


async def test_without_roots_there_is_no_current_project(engine: MemoryEngine) -> None:
    async with Client(build_server(engine, default_user="sam")) as client:
        await client.call_tool("add_memory", {"text": "Kept in gamma", "project": "gamma"})
        assert texts(await client.call_tool("list_memories", {})) == {"Kept in gamma"}  # no project: all are seen
        refused = await client.call_tool("add_memory", {"text": "Where would this go?", "project": "current"})
        assert 'project "current": the host shares no workspace' in error_text(refused)
        bad = await client.call_tool("list_memories", {"project": "two words"})
        assert "project 'two words' is not a valid id" in error_text(bad)
        everywhere = await client.call_tool("add_memory", {"text": "x", "project": "*"})
        assert 'project "*" (every project) is only for reads' in error_text(everywhere)
        assert texts(await client.call_tool("list_memories", {})) == {"Kept in gamma"}


async def test_the_setting_names_the_project_when_the_host_shares_no_roots(engine: MemoryEngine) -> None:
    async with Client(build_server(engine, default_user="sam", project="gamma")) as client:
        kept = data(await client.call_tool("add_memory", {"text": "Uses Postgres 17", "project": "current"}))
        assert kept["project"] == "gamma"
        await client.call_tool("add_memory", {"text": "Elsewhere", "project": "delta"})
        assert texts(await client.call_tool("list_memories", {})) == {"Uses Postgres 17"}


async def test_a_client_that_changes_its_roots_is_asked_again(engine: MemoryEngine, tmp_path: Path) -> None:
    opened = [repository(tmp_path, "alpha")]

    async def roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=opened[0].as_uri())])  # type: ignore[arg-type]

    async with Client(build_server(engine, default_user="sam"), mode="legacy", list_roots_callback=roots) as client:
        first = data(await client.call_tool("add_memory", {"text": "In the first", "project": "current"}))
        opened[0] = repository(tmp_path, "beta")
        with warnings.catch_warnings():  # roots are deprecated in the 2026-07-28 protocol; hosts still send this
            warnings.simplefilter("ignore")
            await client.send_roots_list_changed()
        second = data(await client.call_tool("add_memory", {"text": "In the second", "project": "current"}))
    assert (first["project"], second["project"]) == ("alpha", "beta")
