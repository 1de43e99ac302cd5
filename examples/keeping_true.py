"""A model keeping memories true over stdio: a fact that changed is superseded, a detail is linked to its event.

Prints each call and what came back, as the README's "Keeping memories true" shows it.
Run: python examples/keeping_true.py [path/to/memory.db]
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

SHOWN = (
    *("id", "text", "valid_from", "valid_to", "superseded_by", "match", "linked_from", "link", "event", "similar"),
    *("kind", "source_id", "target_id", "type", "created", "memory_id", "history", "new_text"),
)


def server_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m memory_mcp`."""
    script = shutil.which("memory-mcp", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "memory_mcp"]


def brief(value: Any) -> Any:
    """A tool result with ids shortened and only the fields a reader needs."""
    if isinstance(value, dict):
        return {key: brief(item) for key, item in value.items() if key in SHOWN or key == "results"}
    if isinstance(value, list):
        return [brief(item) for item in value]
    if isinstance(value, str) and len(value) == 36 and value.count("-") == 4:
        return value[:8]
    if isinstance(value, str) and value.endswith("Z") and value[4:5] == "-":
        return value[:10]  # a date is enough here
    return value


async def main(db_path: str) -> None:
    command, *args = server_command()
    env = {"MEMORY_MCP_DB": db_path, "MEMORY_MCP_USER": "sam", "MEMORY_MCP_TOOLS": "all"}
    async with Client(StdioServerParameters(command=command, args=args, env=env)) as client:

        async def call(tool: str, **arguments: Any) -> dict[str, Any]:
            result = await client.call_tool(tool, arguments)
            assert result.structured_content is not None, result.content
            shown = ", ".join(f"{key}={json.dumps(brief(value))}" for key, value in arguments.items())
            print(f"> {tool}({shown})")
            print(f"< {json.dumps(brief(result.structured_content), ensure_ascii=False)}\n")
            content: dict[str, Any] = result.structured_content
            return content

        # Spring 2019: the user mentions where they live.
        paris = await call("add_memory", text="Sam lives in Paris", valid_from="2019-04")
        # Later: "I moved to Berlin in March 2024." The model searches first, finds the old fact, keeps it as past.
        found = await call("search_memory", query="where Sam lives", threshold=0.1)
        assert found["results"][0]["id"] == paris["id"]
        await call(
            "update_memory", memory_id=paris["id"], text="Sam lives in Berlin", keep_history=True, valid_from="2024-03"
        )
        await call("search_memory", query="where Sam lives", threshold=0.1)
        await call("search_memory", query="where Sam lives", threshold=0.1, as_of="2022-06")
        await call("memory_history", memory_id=paris["id"])
        # A detail of an event, linked to it: found through the event even though it shares no word with the query.
        trip = await call("add_memory", text="Sam went to Japan in April 2025")
        bath = await call("add_memory", text="The ryokan had a hot spring bath")
        await call("link_memories", source_id=bath["id"], target_id=trip["id"], type="part_of")
        await call("search_memory", query="Japan holiday", threshold=0.2, neighbors=1)


if __name__ == "__main__":
    database = sys.argv[1] if len(sys.argv) > 1 else str(Path(tempfile.mkdtemp()) / "memory.db")
    asyncio.run(main(database))
