"""StaticEmbedder and the default embedder: meaning from the shipped table, offline, the same everywhere."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import anyio
import numpy as np
import pytest

from memory_mcp.embedders import CombinedEmbedder, HashEmbedder, StaticEmbedder, default_embedder
from memory_mcp.errors import ConfigError

TABLE = Path(str(resources.files("memory_mcp.embedders").joinpath("data")))


def cosine(embedder: StaticEmbedder, a: str, b: str) -> float:
    return float(embedder.embed_one(a) @ embedder.embed_one(b))


def test_the_shipped_table_is_the_one_its_manifest_names() -> None:
    """The table in the package is complete and unaltered: its digest is the one the distillation recorded."""
    info = json.loads((TABLE / "minilm-static.json").read_text())
    vectors = np.load(TABLE / "minilm-static.vectors.npy")
    scales = np.load(TABLE / "minilm-static.scales.npy")
    assert vectors.dtype == np.int8
    assert vectors.shape == (info["tokens"], info["dim"])
    assert hashlib.sha256(vectors.tobytes() + scales.astype(np.float32).tobytes()).hexdigest() == info["sha256"]
    assert "Apache License, Version 2.0" in (TABLE / "NOTICE").read_text()  # the source model's licence ships
    assert StaticEmbedder().id == f"minilm-static-{info['dim']}-{info['sha256'][:8]}"


def test_it_loads_and_embeds_with_no_network_and_no_model_library() -> None:
    """Numpy only: a process where sockets and sentence-transformers are unusable still embeds."""
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('no network here')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "sys.modules['sentence_transformers'] = None; sys.modules['torch'] = None\n"
        "from memory_mcp.embedders import StaticEmbedder\n"
        "sys.stdout.write(StaticEmbedder().embed_one('I am vegetarian').tobytes().hex())\n"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    here = StaticEmbedder().embed_one("I am vegetarian").tobytes().hex()
    assert found.stdout == here


def test_known_vectors_are_stable_on_every_platform() -> None:
    """Pinned values: a new table, or another way of reading it, must change the embedder's id."""
    embedder = StaticEmbedder()
    vector = embedder.embed_one("I am vegetarian and I love cooking")
    assert embedder.id == "minilm-static-256-29354d8b"
    np.testing.assert_allclose(vector[:4], [-0.06559966, 0.03568283, -0.12246328, -0.14551511], atol=1e-6)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-6)


async def test_the_same_vector_in_another_process() -> None:
    script = (
        "import sys; from memory_mcp.embedders import default_embedder; import asyncio\n"
        "v = asyncio.run(default_embedder().embed_query('any trips coming up?'))\n"
        "sys.stdout.write(v.tobytes().hex())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    found = await anyio.run_process([sys.executable, "-c", script], env=env)
    assert found.stdout.decode() == (await default_embedder().embed_query("any trips coming up?")).tobytes().hex()


@pytest.mark.parametrize(
    ("question", "fact", "other"),
    [
        pytest.param("what's her job", "She works as a nurse", "She has a golden retriever", id="job-nurse"),
        pytest.param("diet", "I am vegetarian", "I drive a Honda", id="diet-vegetarian"),
        pytest.param(
            "any holidays planned", "We go on vacation to Spain", "I take blood pressure tablets", id="holiday"
        ),
        pytest.param(
            "is she allowed peanuts", "Lily is allergic to nuts", "Lily starts school in September", id="nuts"
        ),
    ],
)
def test_meaning_brings_a_question_closer_to_its_fact_than_to_another(question: str, fact: str, other: str) -> None:
    """No shared word, yet the fact is nearer: what the keyword leg and the hash cannot do."""
    embedder = StaticEmbedder()
    assert cosine(embedder, question, fact) > cosine(embedder, question, other) + 0.05


def test_inflections_find_the_base_word_and_pieces_of_unknown_words_are_left_out() -> None:
    embedder = StaticEmbedder()
    assert embedder.pieces("headaches") == embedder.pieces("headache") != ()
    assert embedder.pieces("hobbies") == embedder.pieces("hobby") != ()
    assert embedder.pieces("hikking") == ()  # a typo's word pieces mean nothing: the hash embedder covers typos
    assert embedder.pieces("allergy") == ()  # nor does "all" + "##ergy"
    assert not np.any(embedder.embed_one("zzqx wqqv"))  # nothing known: the zero vector, not noise


def test_a_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing or damaged"):
        StaticEmbedder(tmp_path)


async def test_the_combined_cosine_is_the_weighted_sum_of_the_parts() -> None:
    hashed, static = HashEmbedder(64), StaticEmbedder()
    combined = CombinedEmbedder([(hashed, 0.25), (static, 0.75)])
    assert combined.dim == 64 + static.dim
    assert combined.id == f"hash-v2-64*0.25+{static.id}*0.75"
    a, b = "I love hiking in the Alps", "mountain walks at the weekend"
    expected = 0.25 * float(hashed.embed_one(a) @ hashed.embed_one(b)) + 0.75 * cosine(static, a, b)
    got = float(await combined.embed_query(a) @ (await combined.embed_documents([b]))[0])
    assert got == pytest.approx(expected, abs=1e-5)
