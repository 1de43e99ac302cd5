"""Retrieval quality: search_memory's ranking against a tuned BM25 baseline, on LoCoMo and on personal facts.

LoCoMo: each conversation becomes one user's memories, one memory per dialogue turn ("Speaker: text", plus
" [image: caption]"), stored through the real engine. Every question of categories 1-4 is a query; R@k is
the share of its evidence turns in the top k, Hit@5 whether any is in the top 5, MRR the reciprocal rank of
the first one within the top 10. The baseline is Okapi BM25 (k1=1.5, b=0.75, rank-bm25) over the same
stopword-filtered, Snowball-stemmed words. The "paraphrase" group holds the questions that share no
content word (an analysed term) with any of their evidence turns once the speakers' names are set aside:
only meaning can find those.

Personal memory (CC0, written for this project): benchmarks/data/personal_memory.json, short first-person facts of
two users, and benchmarks/data/personal_year.json, a year of one person's life in 156 facts; the questions an
assistant asks about them, top-1 / top-3 hit rates, overall and on the questions that share no content word with
their fact. The crowd curve stores each user's facts among N first-person LoCoMo turns (names taken off).

LoCoMo's own facts: each session's `observation` (short facts its authors drew from it, each with the turn it came
from) stored as the memories instead of the turns, the same questions asked; a fact found counts for its turns. It
says what extracting facts from a conversation is worth to recall before any language model runs here.

The peer-comparable figure: R@10 per turn over every question, adversarial ones included and questions without
evidence counted as found, as MemPalace publishes it (48.0% with all-MiniLM-L6-v2, no reranking).

Run: python benchmarks/retrieval_locomo.py [--data PATH] [--json OUT] [--ablation] [--local-model MODEL]
Needs: pip install -e '.[bench]'. The LoCoMo data (CC BY-NC 4.0) is read from ../shared/data/locomo/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from rank_bm25 import BM25Okapi

from memory_mcp import Analyzer, HashEmbedder, open_engine
from memory_mcp.protocols import Embedder

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo-dev.json"
PERSONAL = Path(__file__).resolve().parent / "data" / "personal_memory.json"
YEAR = Path(__file__).resolve().parent / "data" / "personal_year.json"
PARAPHRASE = "paraphrase (no shared word)"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
TOP = 10


@dataclass(frozen=True)
class Question:
    text: str
    evidence: frozenset[str]
    category: int
    paraphrase: bool = False
    """True when the question shares no content word with any evidence turn (speakers' names set aside)."""


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    turns: list[tuple[str, str]]  # (dia_id, memory text)
    questions: list[Question]


def load(path: Path, *, every: bool = False) -> list[Conversation]:
    """The conversations, their turns as memory texts, and the answerable questions with valid evidence; with
    `every`, all questions (adversarial ones and those without valid evidence too, with what evidence they have)."""
    conversations = []
    for sample in json.loads(path.read_text()):
        chat = sample["conversation"]
        turns: list[tuple[str, str]] = []
        session = 1
        while f"session_{session}" in chat:
            for turn in chat[f"session_{session}"]:
                text = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [image: {turn['blip_caption']}]"
                turns.append((turn["dia_id"], text))
            session += 1
        known = dict(turns)
        analyzer = Analyzer()
        names = {term for speaker in (chat["speaker_a"], chat["speaker_b"]) for term in analyzer.terms(speaker)}
        questions = []
        for qa in sample["qa"]:
            if qa["category"] not in CATEGORIES and not every:
                continue  # category 5 is adversarial: no evidence to retrieve
            evidence = {part for raw in qa.get("evidence", []) for part in re.split(r"[;\s]+", raw) if part in known}
            if evidence or every:
                asked = set(analyzer.terms(qa["question"])) - names
                shared = any(asked & set(analyzer.terms(known[dia_id].split(":", 1)[1])) for dia_id in evidence)
                questions.append(Question(qa["question"], frozenset(evidence), qa["category"], not shared))
        conversations.append(Conversation(sample["sample_id"], turns, questions))
    return conversations


Ranker = Callable[[Conversation], list[list[str]]]


def load_facts(
    path: Path, conversations: Sequence[Conversation]
) -> list[tuple[Conversation, dict[str, frozenset[str]]]]:
    """LoCoMo's own facts (`observation`: what its authors drew from each session, with the turn each came from) as
    the memories of each conversation, the same questions asked, and each fact's source turns."""
    found = []
    for sample, conversation in zip(json.loads(path.read_text()), conversations, strict=True):
        facts: list[tuple[str, str]] = []
        sources: dict[str, frozenset[str]] = {}
        for session in sorted(sample.get("observation", {}), key=lambda key: int(re.findall(r"\d+", key)[0])):
            for items in sample["observation"][session].values():
                for text, where in items:
                    fact = f"F{len(facts)}"
                    refs = where if isinstance(where, list) else [where]
                    facts.append((fact, text))
                    sources[fact] = frozenset(part for ref in refs for part in re.split(r"[;\s]+", ref) if part)
        found.append((Conversation(conversation.sample_id, facts, conversation.questions), sources))
    return found


def facts_table(
    rankers: dict[str, Ranker],
    conversations: Sequence[Conversation],
    facts: Sequence[tuple[Conversation, dict[str, frozenset[str]]]],
) -> tuple[str, dict[str, dict[str, float]]]:
    """R@5 and R@10 of the evidence turns with the turns stored, and with LoCoMo's facts stored instead (a fact counts
    for the turns it came from)."""
    lines = ["| memories | ranker | R@5 | R@10 |", "|---|---|---|---|"]
    figures: dict[str, dict[str, float]] = {}
    turns = sum(len(conversation.turns) for conversation in conversations)
    stored = sum(len(conversation.turns) for conversation, _ in facts)
    for name, ranker in rankers.items():
        by_turn = evaluate(ranker, conversations)["all"]
        recalls: dict[int, list[float]] = {5: [], 10: []}
        for conversation, sources in facts:
            for ranked, question in zip(ranker(conversation), conversation.questions, strict=True):
                for k in recalls:
                    covered = set().union(*(sources[fact] for fact in ranked[:k])) if ranked else set()
                    recalls[k].append(len(question.evidence & covered) / len(question.evidence))
        by_fact = {f"R@{k}": float(np.mean(values)) for k, values in recalls.items()}
        figures[name] = {
            "turns R@5": by_turn["R@5"],
            "turns R@10": by_turn["R@10"],
            **{f"facts {k}": v for k, v in by_fact.items()},
        }
        lines.append(f"| turns ({turns:,}) | {name} | {by_turn['R@5']:.3f} | {by_turn['R@10']:.3f} |")
        lines.append(f"| facts ({stored:,}) | {name} | {by_fact['R@5']:.3f} | {by_fact['R@10']:.3f} |")
    return "\n".join(lines), figures


async def similar_reports(conversations: Sequence[Conversation]) -> dict[str, float]:
    """How often add_memory reports a stored memory as a near-duplicate or related, on turns that are mostly
    distinct: each speaker's turns (without the "Speaker:" prefix) added in order, in a scope of their own."""
    counts = {"adds": 0, "duplicate": 0, "related": 0}
    with tempfile.TemporaryDirectory() as folder:
        async with open_engine(Path(folder) / "similar.db") as engine:
            for number, conversation in enumerate(conversations):
                for _, text in conversation.turns:
                    speaker, _, said = text.partition(": ")
                    scope = engine.scope(f"c{number}-{''.join(ch for ch in speaker if ch.isalnum())}")
                    if not said.strip():
                        continue
                    kinds = {found.kind for found in (await engine.add(said, scope)).similar}
                    counts["adds"] += 1
                    counts["duplicate"] += "duplicate" in kinds
                    counts["related"] += bool(kinds)
    adds = max(counts["adds"], 1)
    return {
        "adds": counts["adds"],
        "duplicate_rate": counts["duplicate"] / adds,
        "related_rate": counts["related"] / adds,
    }


def load_personal(path: Path = PERSONAL) -> list[Conversation]:
    """The personal-memory set as conversations: one per user, a turn per fact, each question with its fact."""
    analyzer = Analyzer()
    users = []
    for user, content in json.loads(path.read_text(encoding="utf-8"))["users"].items():
        facts: dict[str, str] = content["facts"]
        questions = [
            Question(text, frozenset({fact}), 0, not set(analyzer.terms(text)) & set(analyzer.terms(facts[fact])))
            for text, fact in content["questions"]
        ]
        users.append(Conversation(user, list(facts.items()), questions))
    return users


def personal_table(rankers: dict[str, Ranker], users: Sequence[Conversation]) -> tuple[str, dict[str, Any]]:
    """Top-1 and top-3 hit rates per ranker, on all questions and on those sharing no word with their fact."""
    lines = [
        "| ranker | questions | top-1 | top-3 | no shared word: n | top-1 | top-3 |",
        "|---|---|---|---|---|---|---|",
    ]
    figures: dict[str, Any] = {}
    for name, ranker in rankers.items():
        hits = []
        for user in users:
            for ranked, question in zip(ranker(user), user.questions, strict=True):
                hits.append(
                    (question.paraphrase, ranked[:1] == [*question.evidence], bool(question.evidence & set(ranked[:3])))
                )
        paraphrases = [hit for hit in hits if hit[0]]
        row = {
            "top1": float(np.mean([hit[1] for hit in hits])),
            "top3": float(np.mean([hit[2] for hit in hits])),
            "paraphrase_n": len(paraphrases),
            "paraphrase_top1": float(np.mean([hit[1] for hit in paraphrases])),
            "paraphrase_top3": float(np.mean([hit[2] for hit in paraphrases])),
        }
        figures[name] = row
        lines.append(
            f"| {name} | {len(hits)} | {row['top1']:.3f} | {row['top3']:.3f} | {row['paraphrase_n']} | "
            f"{row['paraphrase_top1']:.3f} | {row['paraphrase_top3']:.3f} |"
        )
    return "\n".join(lines), figures


CROWD: Final = (0, 50, 100, 300)
"""How many turns of ordinary chatter each user's facts are stored among, for the crowd curve."""


def chatter(conversations: Sequence[Conversation], count: int, offset: int) -> list[tuple[str, str]]:
    """`count` first-person LoCoMo turns from `offset` on, the speaker's name taken off ("Caroline: I ..." -> "I ..."),
    as (id, text) turns that answer no personal question."""
    said = [text.partition(": ")[2] for conversation in conversations for _, text in conversation.turns]
    said = [text for text in said if text.strip()]
    return [(f"chatter-{offset + n}", said[(offset + n) % len(said)]) for n in range(count)]


def crowd_table(
    rankers: dict[str, Ranker], users: Sequence[Conversation], conversations: Sequence[Conversation]
) -> tuple[str, dict[str, dict[int, float]]]:
    """The crowd curve: top-3 of the personal questions that share no word with their fact, each user's facts stored
    among 0, 50, 100 and 300 turns of chatter (each user gets other turns)."""
    lines = [
        "| ranker | " + " | ".join(f"among {n}" for n in CROWD) + " |",
        "|---|" + "---|" * len(CROWD),
    ]
    figures: dict[str, dict[int, float]] = {}
    for name, ranker in rankers.items():
        figures[name] = {}
        for count in CROWD:
            hits = []
            for number, user in enumerate(users):
                crowded = Conversation(
                    user.sample_id, [*user.turns, *chatter(conversations, count, number * max(CROWD))], user.questions
                )
                for ranked, question in zip(ranker(crowded), user.questions, strict=True):
                    if question.paraphrase:
                        hits.append(bool(question.evidence & set(ranked[:3])))
            figures[name][count] = float(np.mean(hits)) if hits else 0.0
        lines.append(f"| {name} | " + " | ".join(f"{figures[name][n]:.3f}" for n in CROWD) + " |")
    return "\n".join(lines), figures


def turn_level(ranker: Ranker, conversations: Sequence[Conversation]) -> float:
    """R@10 per turn as MemPalace publishes it: every question (`load(..., every=True)`), the share of its evidence
    turns in the top 10, a question without evidence counting as found."""
    recalls = []
    for conversation in conversations:
        for ranked, question in zip(ranker(conversation), conversation.questions, strict=True):
            found = len(question.evidence & set(ranked[:TOP]))
            recalls.append(found / len(question.evidence) if question.evidence else 1.0)
    return float(np.mean(recalls)) if recalls else 0.0


def bm25_ranker(conversation: Conversation) -> list[list[str]]:
    """Okapi BM25 (k1=1.5, b=0.75) over stopword-filtered, stemmed words: the baseline."""
    analyzer = Analyzer()
    ids = [dia_id for dia_id, _ in conversation.turns]
    bm25 = BM25Okapi([analyzer.terms(text) for _, text in conversation.turns], k1=1.5, b=0.75)
    rankings = []
    for question in conversation.questions:
        scores = bm25.get_scores(analyzer.terms(question.text))
        rankings.append([ids[i] for i in np.argsort(-scores, kind="stable")[:TOP]])
    return rankings


def engine_ranker(
    embedder: Callable[[], Embedder] | None = None, vector_weight: float | None = None, *, plain: bool = False
) -> Ranker:
    """search_memory's ranking: memories added through the engine, questions sent to its search as the tool sends
    them; with `plain`, every memory by the fused score alone (threshold -1: no meaning leg), for the ablations."""

    async def rank(conversation: Conversation) -> list[list[str]]:
        with tempfile.TemporaryDirectory() as folder:
            async with open_engine(
                Path(folder) / "locomo.db",
                embedder=embedder() if embedder else None,
                vector_weight=vector_weight,
            ) as engine:
                scope = engine.scope(conversation.sample_id)
                for dia_id, text in conversation.turns:
                    await engine.add(text, scope, {"dia_id": dia_id})
                rankings = []
                for question in conversation.questions:
                    hits = await engine.search(question.text, scope, limit=TOP, threshold=-1.0 if plain else None)
                    rankings.append([hit.memory.metadata["dia_id"] for hit in hits])
                return rankings

    return lambda conversation: asyncio.run(rank(conversation))


Scores = dict[str, float]


def score(rankings: Sequence[list[str]], questions: Sequence[Question]) -> Scores:
    rows = []
    for ranked, question in zip(rankings, questions, strict=True):
        evidence = question.evidence
        first = next((i for i, dia_id in enumerate(ranked) if dia_id in evidence), None)
        rows.append(
            (
                len(evidence & set(ranked[:5])) / len(evidence),
                len(evidence & set(ranked[:10])) / len(evidence),
                1.0 if evidence & set(ranked[:5]) else 0.0,
                0.0 if first is None else 1.0 / (first + 1),
            )
        )
    means = np.mean(rows, axis=0) if rows else np.zeros(4)
    return {"R@5": float(means[0]), "R@10": float(means[1]), "Hit@5": float(means[2]), "MRR": float(means[3])}


def evaluate(ranker: Ranker, conversations: Sequence[Conversation]) -> dict[str, Scores]:
    """Scores overall, per category, and per half (conversations 1-3 vs 4-5)."""
    groups: dict[str, tuple[list[list[str]], list[Question]]] = defaultdict(lambda: ([], []))
    for number, conversation in enumerate(conversations):
        rankings = ranker(conversation)
        half = "half 1 (conv 1-3)" if number < 3 else "half 2 (conv 4-5)"
        for ranked, question in zip(rankings, conversation.questions, strict=True):
            for group in ("all", CATEGORIES[question.category], half, *([PARAPHRASE] if question.paraphrase else [])):
                groups[group][0].append(ranked)
                groups[group][1].append(question)
    return {group: score(*groups[group]) for group in groups}


GROUPS = ["all", *CATEGORIES.values(), PARAPHRASE, "half 1 (conv 1-3)", "half 2 (conv 4-5)"]
METRICS = ("R@5", "R@10", "Hit@5", "MRR")


def table(results: dict[str, dict[str, Scores]], baseline: str, counts: dict[str, int]) -> str:
    """One row per group and ranker; each cell the metric and, after it, its ratio to the baseline's."""
    lines = ["| group | n | ranker | " + " | ".join(METRICS) + " |", "|---|---|---|" + "---|" * len(METRICS)]
    for group in (group for group in GROUPS if group in results[baseline]):  # a tiny file may lack some
        for name, result in results.items():
            cells = []
            for metric in METRICS:
                value, base = result[group][metric], results[baseline][group][metric]
                ratio = f" ({value / base:.2f}x)" if name != baseline and base else ""
                cells.append(f"{value:.3f}{ratio}")
            lines.append(f"| {group} | {counts[group]} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="locomo-dev.json")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also rank by the keyword leg alone, the vector leg alone and the fused score without the meaning leg",
    )
    parser.add_argument(
        "--local-model",
        metavar="MODEL",
        help="also rank with this sentence-transformers model (folder or package; needs the [local] extra): "
        "as search_memory uses it, and alone (its cosine only)",
    )
    parser.add_argument(
        "--weights",
        default="",
        help="with --ablation, also fuse the local model at these vector weights (e.g. 0.3,0.5)",
    )
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"No LoCoMo data at {args.data}; pass --data PATH.", file=sys.stderr)
        return 2
    conversations = load(args.data)
    rankers: dict[str, Ranker] = {
        "bm25": bm25_ranker,
        "memory-mcp": engine_ranker(),
        "memory-mcp, hash only": engine_ranker(lambda: HashEmbedder()),
    }
    if args.ablation:
        rankers["keyword leg only"] = engine_ranker(vector_weight=0.0, plain=True)
        rankers["vector leg only"] = engine_ranker(vector_weight=1.0, plain=True)
        rankers["fused score, no meaning leg"] = engine_ranker(plain=True)
    if args.local_model:
        from memory_mcp.embedders.local import LocalEmbedder  # optional: needs the [local] extra

        model = LocalEmbedder(args.local_model)
        rankers["memory-mcp + model"] = engine_ranker(lambda: model)
        rankers["model alone"] = engine_ranker(lambda: model, vector_weight=1.0, plain=True)  # its cosine, in order
        if args.ablation:
            for weight in (float(w) for w in args.weights.split(",") if w):
                rankers[f"keyword + {model.id} (w={weight})"] = engine_ranker(lambda: model, vector_weight=weight)
    results, seconds = {}, {}
    for name, ranker in rankers.items():
        started = time.perf_counter()
        results[name] = evaluate(ranker, conversations)
        seconds[name] = time.perf_counter() - started
    counts: dict[str, int] = defaultdict(int)
    for number, conversation in enumerate(conversations):
        for question in conversation.questions:
            counts["all"] += 1
            counts[CATEGORIES[question.category]] += 1
            counts["half 1 (conv 1-3)" if number < 3 else "half 2 (conv 4-5)"] += 1
            counts[PARAPHRASE] += question.paraphrase
    print(f"LoCoMo retrieval, {counts['all']} questions over {len(conversations)} conversations ({args.data.name})")
    print(table(results, "bm25", counts))
    print("seconds (store + all queries): " + ", ".join(f"{name} {s:.1f}" for name, s in seconds.items()))
    reports = asyncio.run(similar_reports(conversations))
    print(
        f"\nadd_memory's similar memories on {reports['adds']:,} LoCoMo turns added per speaker, in order (mostly "
        f"distinct facts): a near-duplicate reported for {reports['duplicate_rate']:.1%}, anything related for "
        f"{reports['related_rate']:.1%}"
    )
    everything = load(args.data, every=True)
    peers = {name: turn_level(ranker, everything) for name, ranker in rankers.items()}
    print(
        f"\nTurn-level R@10 over all {sum(len(c.questions) for c in everything)} questions (adversarial included, "
        "no evidence counted as found), as MemPalace publishes it (48.0% with all-MiniLM-L6-v2, no rerank): "
        + ", ".join(f"{name} {value:.3f}" for name, value in peers.items())
    )
    chosen = {name: ranker for name, ranker in rankers.items() if name in ("bm25", "memory-mcp", "memory-mcp + model")}
    text, facts = facts_table(chosen, conversations, load_facts(args.data, conversations))
    print(
        "\nLoCoMo's own facts (`observation`: what its authors drew from each session) stored instead of the turns, "
        "the same questions: a fact counts for the turns it came from"
    )
    print(text)
    personal: dict[str, dict[str, Any]] = {}
    crowds: dict[str, dict[str, dict[int, float]]] = {}
    for path in (PERSONAL, YEAR):
        users = load_personal(path)
        text, personal[path.stem] = personal_table(rankers, users)
        print(f"\nPersonal memory ({path.name}): the right fact first, or in the top 3")
        print(text)
        text, crowds[path.stem] = crowd_table(rankers, users, conversations)
        print(
            f"\nThe crowd curve ({path.name}): questions sharing no word with their fact, right fact in the top 3, "
            f"each user's facts among N first-person turns of {args.data.name} (speaker names taken off)"
        )
        print(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "results": results,
                    "seconds": seconds,
                    "counts": counts,
                    "personal": personal,
                    "similar": reports,
                    "crowd": crowds,
                    "turn_level": peers,
                    "facts": facts,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
