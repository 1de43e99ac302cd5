"""`checkup.check` on its own: a sound file passes with its figures; each kind of damage is named."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

from memory_mcp import HashEmbedder, open_engine
from memory_mcp.checkup import check
from memory_mcp.embedders import default_embedder


async def filled(db: Path) -> None:
    async with open_engine(db) as engine:
        sam = engine.scope("sam")
        first = await engine.add("Sam keeps bees", sam)
        second = await engine.add("Sam sells honey at the market", sam)
        await engine.link(sam, first.memory.id, second.memory.id, "relates_to")
        await engine.add("Alex plays chess", engine.scope("alex"))


async def test_a_sound_database_passes_with_its_figures(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    await filled(db)
    report = await check(str(db), default_embedder(), deep=True)
    assert report.ok, report.problems
    assert report.figures["memories"] == report.figures["indexed"] == 3
    quick = await check(str(db), default_embedder())  # the rows only: no index is built
    assert quick.ok, quick.problems
    assert "indexed" not in quick.figures
    assert quick.figures["memories"] == 3
    assert report.figures["users"] == 2
    assert report.figures["embedder"] == default_embedder().id


async def test_damage_is_named_and_a_missing_file_is_not_created(tmp_path: Path) -> None:
    missing = await check(str(tmp_path / "nothing.db"), default_embedder())
    assert missing.problems == [
        f"There is no database at {tmp_path / 'nothing.db'}; a server would create an empty one there."
    ]
    assert not (tmp_path / "nothing.db").exists()
    db = tmp_path / "m.db"
    await filled(db)
    other = await check(str(db), HashEmbedder())
    assert any("configure that embedder, or start the server once with --reembed" in p for p in other.problems)
    with sqlite3.connect(db) as raw:
        raw.execute("DELETE FROM history WHERE memory_id = (SELECT id FROM memories WHERE user_id = 'alex')")
        raw.execute("UPDATE links SET target_id = 'gone'")
    damaged = await check(str(db), default_embedder())
    assert any(problem.startswith("Memories without any history row (1:") for problem in damaged.problems)
    assert any(problem.startswith("Links that do not join two memories of one user") for problem in damaged.problems)


async def test_vectors_off_the_unit_sphere_are_named(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    await filled(db)
    dim = default_embedder().dim
    with sqlite3.connect(db) as raw:
        doubled, nan = struct.pack(f"<{dim}f", *([0.5] * dim)), struct.pack(f"<{dim}f", *([float("nan")] * dim))
        raw.execute("UPDATE memories SET embedding = ? WHERE text = 'Sam keeps bees'", (doubled,))
        raw.execute("UPDATE memories SET embedding = ? WHERE text = 'Alex plays chess'", (nan,))
        named = {row[0] for row in raw.execute("SELECT id FROM memories WHERE text <> 'Sam sells honey at the market'")}
    report = await check(str(db), default_embedder())
    [problem] = report.problems
    assert problem.startswith("Vectors that are not unit length (or hold NaN) (2: ")
    assert {part.strip() for part in problem.split(": ", 1)[1].rstrip(")").split(",")} == named
