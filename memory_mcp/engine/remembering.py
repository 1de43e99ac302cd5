"""Remembering a conversation: facts drawn by a language model, reconciled with what the user's memories say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from ..extraction import (
    EXTRACT_SCHEMA,
    RECONCILE_SCHEMA,
    Fact,
    extract_prompt,
    parse_decisions,
    parse_facts,
    reconcile_prompt,
)
from ..models import Memory, Scope
from ..protocols import LanguageModel
from ..transcripts import Message
from .parts import EngineParts
from .ranking import Ranking
from .writing import Writes

_ALIKE: Final = 5  # stored memories shown beside each fact
SOURCE: Final = "conversation"
"""The `source` metadata of a memory a conversation gave."""


@dataclass(frozen=True)
class Remembered:
    """What became of one fact: added (`memory` the new one), updated (`replaced` superseded by `memory`), or
    already known (`memory` the one that says it)."""

    fact: str
    action: Literal["ADD", "UPDATE", "NOOP"]
    memory: Memory
    replaced: Memory | None = None


class Remembering(EngineParts):
    """Extract the facts of a conversation, show each to the model beside the user's memories that resemble it,
    and apply its decisions: add, supersede (history keeps the old), or leave alone."""

    ranking: Ranking
    writes: Writes

    async def remember(self, messages: Sequence[Message], scope: Scope, model: LanguageModel) -> list[Remembered]:
        """Remember `messages` for `scope` with `model`: two requests, then the writes. A failed request or an
        answer that breaks its rules stores nothing (`errors.LanguageModelError`, `errors.ModelAnswerError`), nor
        does a fact that fails validation (all are checked first); then the decisions are applied one after the
        other, each its own transaction."""
        system, prompt = extract_prompt(messages, scope.user_id)
        facts = parse_facts(await model.complete(system, prompt, EXTRACT_SCHEMA, "facts"))
        if not facts:
            return []
        alike = await self._alike(facts, scope)
        system, prompt = reconcile_prompt(facts, [[memory.text for memory in shown] for shown in alike])
        decisions = parse_decisions(
            await model.complete(system, prompt, RECONCILE_SCHEMA, "decisions"),
            facts,
            [[memory.text for memory in shown] for shown in alike],
        )
        # Every fact is checked before anything is written, so that a bad one stores nothing of the others; a fact
        # that replaces a memory starts no earlier than that memory did (its stored start may be when it was told).
        starts: list[str | None] = []
        for fact, shown, decision in zip(facts, alike, decisions, strict=True):
            start = self._draft(fact.text, {"source": SOURCE}, fact.entities, fact.valid_from)[3] or None
            if decision.action == "UPDATE" and start is not None:
                assert decision.memory is not None  # parse_decisions checked it
                start = max(start, shown[decision.memory - 1].valid_from)
            starts.append(start)
        done: list[Remembered] = []
        for fact, shown, decision, start in zip(facts, alike, decisions, starts, strict=True):
            metadata = {"source": SOURCE}
            if decision.action == "ADD":
                added = await self.writes.add(fact.text, scope, metadata, entities=fact.entities, valid_from=start)
                done.append(Remembered(fact.text, "ADD", added.memory))
            elif decision.action == "UPDATE":
                assert decision.memory is not None
                old, new = await self.writes.supersede(
                    shown[decision.memory - 1].id, scope, fact.text, metadata=metadata,
                    entities=fact.entities or None, valid_from=start,
                )  # fmt: skip
                done.append(Remembered(fact.text, "UPDATE", new, old))
            else:
                assert decision.memory is not None
                done.append(Remembered(fact.text, "NOOP", shown[decision.memory - 1]))
        return done

    async def _alike(self, facts: Sequence[Fact], scope: Scope) -> list[list[Memory]]:
        """Each fact's look-alikes among the scope's current memories (the engine's own similar search)."""
        vectors = await self._embed([fact.text for fact in facts], None, len(facts))
        found = []
        for fact, vector in zip(facts, vectors, strict=True):
            similar = await self.ranking.similar(fact.text, vector, scope)
            found.append([item.memory for item in similar][:_ALIKE])
        return found
