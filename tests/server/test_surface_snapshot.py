"""The whole surface the model reads, as a client sees it, pinned in a reviewed snapshot (syrupy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from memory_mcp import open_engine
from memory_mcp.server import build_server


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


async def surface(tmp_path: Path, **options: Any) -> dict[str, Any]:
    """Handshake instructions, tools, resources, resource templates and prompts of a server built with `options`."""

    def dump(items: Any) -> list[Any]:
        return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in items]

    async with open_engine(tmp_path / "m.db") as engine, Client(build_server(engine, **options)) as session:
        return {
            "instructions": session.instructions,
            "tools": dump((await session.list_tools()).tools),
            "resources": dump((await session.list_resources()).resources),
            "resource_templates": dump((await session.list_resource_templates()).resource_templates),
            "prompts": dump((await session.list_prompts()).prompts),
        }


@pytest.mark.parametrize(
    "options",
    [{}, {"default_user": "sam", "tools": "core"}],
    ids=["shared-server", "one-person-core-tools"],
)
async def test_what_a_client_sees_changes_only_on_purpose(
    tmp_path: Path, snapshot_json: SnapshotAssertion, options: dict[str, Any]
) -> None:
    """A change to a tool, argument, description, resource or prompt shows up as a diff of the snapshot file.

    After a deliberate change: `pytest tests/server/test_surface_snapshot.py --snapshot-update`, review the diff, add a
    CHANGELOG entry.
    """
    assert await surface(tmp_path, **options) == snapshot_json
