"""mem0 doing what the performance benchmark asks of memory-mcp: run with a Python that has `mem0ai` installed.

No network and no model: the local Qdrant in path mode, `infer=False` (no LLM), and in the "openai" embedder slot
a deterministic hash embedder written here (words hashed into 256 signed buckets), so the timings are mem0's own
storage and search. Telemetry is off. Prints one JSON object with the timings.

Run (normally `benchmarks/performance.py --mem0-python PATH` does it):
    python benchmarks/peer_mem0.py TEXTS.json QUERIES.json FOLDER
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("OPENAI_API_KEY", "not-used")  # the embedder slot below never calls OpenAI

DIM = 256


def embed(text: str) -> list[float]:
    """A unit vector of the text's words, hashed into DIM signed buckets (deterministic, no model)."""
    vector = [0.0] * DIM
    for word in text.lower().split():
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        vector[int.from_bytes(digest[:4], "little") % DIM] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def main(texts_path: str, queries_path: str, folder: str) -> None:
    from mem0 import Memory
    from mem0.embeddings.openai import OpenAIEmbedding

    OpenAIEmbedding.embed = lambda self, text, memory_action=None: embed(text)
    OpenAIEmbedding.embed_batch = lambda self, texts, memory_action="add": [embed(t) for t in texts]
    texts: list[str] = json.loads(Path(texts_path).read_text())
    queries: list[str] = json.loads(Path(queries_path).read_text())
    memory = Memory.from_config(
        {
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "path": str(Path(folder) / "qdrant"),
                    "collection_name": "bench",
                    "embedding_model_dims": DIM,
                },
            },
            "embedder": {"provider": "openai", "config": {"embedding_dims": DIM}},
            "history_db_path": str(Path(folder) / "history.db"),
        }
    )
    half = len(texts) // 2
    started = time.perf_counter()
    for text in texts[:half]:
        memory.add([{"role": "user", "content": text}], user_id="user", infer=False)
    single = half / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(half, len(texts), 100):
        chunk = [{"role": "user", "content": text} for text in texts[start : start + 100]]
        memory.add(chunk, user_id="user", infer=False)
    batched = (len(texts) - half) / (time.perf_counter() - started)
    timings = []
    for query in queries:
        started = time.perf_counter()
        memory.search(query, top_k=10, filters={"user_id": "user"})
        timings.append((time.perf_counter() - started) * 1000)
    result: dict[str, Any] = {
        "adds_per_s": single,
        "batched_adds_per_s": batched,
        "search": {"median_ms": statistics.median(timings), "p95_ms": sorted(timings)[int(0.95 * len(timings))]},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
