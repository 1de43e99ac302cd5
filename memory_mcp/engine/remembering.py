"""Remembering a conversation: facts drawn by a language model, reconciled with what the user's memories say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from ..models import Memory, Scope
from ..protocols import LanguageModel
from ..relevance import Relevance
from ..transcripts import Message
from .parts import Draft, EngineParts
from .ranking import Ranking
from .writing import Writes

if TYPE_CHECKING:  # the prompts and their pydantic schemas load on the first remember: commands start without them
    from ..extraction import Fact

_ALIKE: Final = 5  # stored memories shown beside each fact
SOURCE: Final = "conversation"
"""The `source` metadata of a memory a conversation gave."""


@dataclass(frozen=True)
class Remembered:
    """What became of one fact: added (`memory` the new one), updated (`replaced` superseded by `memory`), already
    known (`memory` the one that says it), or skipped (`memory` None: a sensitive fact the user did not say about
    themselves)."""

    fact: str
    action: Literal["ADD", "UPDATE", "NOOP", "SKIP"]
    memory: Memory | None
    replaced: Memory | None = None


class Remembering(EngineParts):
    """Extract the facts of a conversation, show each to the model beside the user's memories that resemble it,
    and apply its decisions in one transaction: add, supersede (history keeps the old), or leave alone."""

    ranking: Ranking
    writes: Writes
    _relevance: Relevance | None = None

    async def remember(self, messages: Sequence[Message], scope: Scope, model: LanguageModel) -> list[Remembered]:
        """Remember `messages` for `scope` with `model`: two requests, then one transaction. A failed request or an
        answer that breaks its rules stores nothing (`errors.LanguageModelError`, `errors.ModelAnswerError`), nor
        does a fact that fails validation: every fact is checked, then all decisions are written together.

        A fact of health, family or money is kept only when the user's own messages say it about themselves
        (`relevance.Relevance.told_by_the_user`, the prompt hook's rule); otherwise it is reported as SKIP."""
        from ..extraction import EXTRACT_SCHEMA, extract_prompt, parse_facts

        system, prompt = extract_prompt(messages, scope.user_id)
        facts = parse_facts(await model.complete(system, prompt, EXTRACT_SCHEMA, "facts"))
        if self._relevance is None:
            self._relevance = Relevance(self.analyzer)
        relevance = self._relevance
        said = [message.content for message in messages if message.role == "user"]
        skipped = [
            relevance.is_sensitive(fact.text) and not relevance.told_by_the_user(fact.text, said, scope.user_id)
            for fact in facts
        ]
        kept = [fact for fact, skip in zip(facts, skipped, strict=True) if not skip]
        outcome = iter(await self._apply(kept, scope, model) if kept else [])
        return [
            Remembered(fact.text, "SKIP", None) if skip else next(outcome)
            for fact, skip in zip(facts, skipped, strict=True)
        ]

    async def _apply(self, facts: Sequence[Fact], scope: Scope, model: LanguageModel) -> list[Remembered]:
        """Reconcile `facts` with their look-alikes through `model`, then write every decision in one transaction."""
        from ..extraction import RECONCILE_SCHEMA, parse_decisions, reconcile_prompt

        alike = await self._alike(facts, scope)
        shown = [[memory.text for memory in memories] for memories in alike]
        system, prompt = reconcile_prompt(facts, shown)
        decisions = parse_decisions(await model.complete(system, prompt, RECONCILE_SCHEMA, "decisions"), facts, shown)
        # Every fact is checked before anything is written. A fact that replaces a memory starts no earlier than
        # that memory did (its stored start may be when it was told); a memory two facts replace (each saw it as
        # its own look-alike) is replaced by the first, and the later ones are added beside it.
        added: list[tuple[int, Draft]] = []
        replacing: list[tuple[int, Memory, Draft]] = []
        targets: set[str] = set()
        for number, (fact, memories, decision) in enumerate(zip(facts, alike, decisions, strict=True)):
            draft = self._draft(fact.text, {"source": SOURCE}, fact.entities, fact.valid_from)
            old = None if decision.memory is None else memories[decision.memory - 1]  # parse_decisions checked it
            if decision.action == "ADD" or (decision.action == "UPDATE" and old is not None and old.id in targets):
                added.append((number, draft))
            elif decision.action == "UPDATE" and old is not None:
                targets.add(old.id)
                start = max(draft[3], old.valid_from) if draft[3] else ""
                replacing.append((number, old, (*draft[:3], start)))
        new, changed = await self.writes.add_and_supersede(
            scope, [draft for _, draft in added], [(old.id, draft) for _, old, draft in replacing]
        )
        done: dict[int, Remembered] = {}
        for (number, _), (memory, created) in zip(added, new, strict=True):
            done[number] = Remembered(facts[number].text, "ADD" if created else "NOOP", memory)
        for (number, _, _), (old, memory) in zip(replacing, changed, strict=True):
            done[number] = Remembered(facts[number].text, "UPDATE", memory, old)
        for number, (fact, memories, decision) in enumerate(zip(facts, alike, decisions, strict=True)):
            if decision.action == "NOOP" and decision.memory is not None:
                done[number] = Remembered(fact.text, "NOOP", memories[decision.memory - 1])
        return [done[number] for number in range(len(facts))]

    async def _alike(self, facts: Sequence[Fact], scope: Scope) -> list[list[Memory]]:
        """Each fact's look-alikes among the scope's current memories (the engine's own similar search)."""
        vectors = await self._embed([fact.text for fact in facts], None, len(facts))
        found = []
        for fact, vector in zip(facts, vectors, strict=True):
            similar = await self.ranking.similar(fact.text, vector, scope)
            found.append([item.memory for item in similar][:_ALIKE])
        return found
