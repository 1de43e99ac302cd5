"""Use the memory engine directly from Python, without MCP.

Run: python examples/embed_in_app.py [path/to/memory.db]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from memory_mcp import open_engine


async def main(db_path: str) -> None:
    async with open_engine(db_path) as memory:
        alice = memory.scope("alice")
        await memory.add("Prefers window seats on flights", alice, {"topic": "travel"})
        await memory.add("Allergic to peanuts", alice, {"topic": "health"})
        for hit in await memory.search("flights", alice, limit=3):
            print(f"{hit.score:.3f}  {hit.memory.text}  {hit.memory.metadata}")
        page = await memory.page(alice, filters={"topic": "health"})
        print(f"{page.total} memory about health: {page.memories[0].text}")


if __name__ == "__main__":
    database = sys.argv[1] if len(sys.argv) > 1 else str(Path(tempfile.mkdtemp()) / "memory.db")
    asyncio.run(main(database))
