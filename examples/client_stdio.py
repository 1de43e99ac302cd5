"""Launch memory-mcp over stdio as an MCP host would, remember two facts and search them.

Run: python examples/client_stdio.py [path/to/memory.db]
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from mcp import Client, StdioServerParameters


def server_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m memory_mcp`."""
    script = shutil.which("memory-mcp", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "memory_mcp"]


async def main(db_path: str) -> None:
    command, *args = server_command()
    server = StdioServerParameters(command=command, args=args, env={"MEMORY_MCP_DB": db_path})
    async with Client(server) as client:
        for text in ("I love hiking in the Swiss Alps", "My sister Anna lives in Berlin"):
            result = await client.call_tool("add_memory", {"user_id": "alice", "text": text})
            print("added:", result.structured_content)
        result = await client.call_tool("search_memory", {"user_id": "alice", "query": "hiking", "limit": 3})
        assert result.structured_content is not None
        for hit in result.structured_content["results"]:
            print(f"found: {hit['score']:.3f}  {hit['text']}")


if __name__ == "__main__":
    database = sys.argv[1] if len(sys.argv) > 1 else str(Path(tempfile.mkdtemp()) / "memory.db")
    asyncio.run(main(database))
