"""What the prompt hook may add to a prompt: only memories a person would call relevant to it, never a leak.

Search ranks every memory; the hook must also decide whether the best are worth the model's attention at all, on
prompts that mostly need none ("explain CORS", "write a limerick"). A memory is added when it has evidence:

- **words**: it shares a distinctive word with the prompt (not a common English word such as "write" or "plan",
  not a number), and it is about how the user works (code, tools, documents, the team), a rule the user keeps
  ("I prefer", "never", "no meat"), or the prompt is about the user ("my", "we", "I" other than "how do I";
  not "me": "give me a checklist" asks for anyone);
- **meaning**: the prompt is about the user and the memory is the closest in meaning of those search measured
  (`SearchHit.closeness`, at least `scoring.MEANING_MIN`), or within `TIE` of the closest: meaning this close
  cannot tell two memories apart ("cook for dinner tonight": 0.27 to "cello on Tuesday evenings", 0.27 to
  "vegetarian"), so both go.

Health, family and other sensitive facts are added only to prompts about the user: "explain blood types" never
brings up a diabetes. The same rule keeps a remembered conversation's sensitive facts to what the user said about
themselves (`told_by_the_user`). The rule was chosen on benchmarks/data/prompt_hook.json (benchmarks/prompt_hook.py
prints its figures); its word lists are general English, not that set's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from .models import SearchHit
from .scoring import MEANING_MIN
from .search.analyzer import Analyzer, names

TIE: Final = 0.95
"""A memory this close in meaning to the prompt, relative to the closest, counts as the closest too."""
_COMMON_TEXT: Final = """
    time year people way day man woman thing life child world school state family student group country problem
    hand part place case week company system program question work government number night point home water room
    mother area money story fact month lot right study book eye job word business issue side kind head house service
    friend father power hour game line end member law car city community name president team minute idea kid body
    information back parent face others level office door health person art war history party result change morning
    reason research girl guy moment air teacher force education character characters
    be have do say go get make know think take see come want look use find give tell work call try ask need feel
    become leave put mean keep let begin seem help talk turn start show hear play run move like live believe hold
    bring happen write provide sit stand lose pay meet include continue set learn change lead understand watch follow
    stop create speak read allow add spend grow open walk win offer remember love consider appear buy wait serve die
    send expect build stay fall cut reach kill remain suggest raise pass sell require report decide pull explain fix
    plan check convert generate calculate describe compare list sort draft summarise summarize translate recommend
    remind share visit
    good new first last long great little own other old right big high different small large next early young
    important few public bad same able best better sure free full special easy clear recent certain personal open red
    real whole simple short single main possible hard late true left least enough quick fast slow
    also just now then here there well only very even back still way too much many more most some any every each all
    both either before after again never always often usually sometimes today tomorrow yesterday tonight soon later
    already thing things something anything everything nothing someone anyone everyone ways sort type part piece lots
    bit couple several
"""
"""Common English words: shared with a memory, they are no evidence that it matters to the prompt."""

_WORK_TEXT: Final = """
    code coding program programming software developer python javascript typescript rust java test tests testing
    pytest unittest deploy deploys deployment release production server editor vim neovim emacs vscode ide format
    formatter formatting lint linter ruff mypy black hints commit commits git branch merge review pull request
    database postgresql postgres sqlite sql django flask api project repository repo ci pipeline docker kubernetes
    container refactor function class module library framework spelling document documents report style team
    meeting sprint ticket bug
"""
"""Words of how someone works: a memory holding one applies to a task prompt that shares a distinctive word."""

_SENSITIVE_TEXT: Final = """
    diabetes blood sugar insulin allergic allergy allergies therapist therapy anxiety depression doctor hospital
    operation surgery illness disease pregnant pregnancy medication medicine prescription diagnosis cancer mother
    father mum dad parents daughter son brother sister partner wife husband child children baby family religion
    church debt salary
"""
"""Words of health, family and money: a memory holding one is added only to prompts about the user."""

_RULE = re.compile(
    r"\b(prefer|prefers|like|likes|love|hate|avoid|avoids|never|always|can't|cannot|don't|won't|no|vegetarian|vegan|"
    r"allergic|intolerant)\b",
    re.IGNORECASE,
)
"""A memory that says so is a rule the user keeps, which applies to tasks too ("suggest a recipe" and "no meat")."""
# "me" is left out: "give me a checklist", "show me how" ask for anyone.
_ABOUT_THE_USER = re.compile(r"\b(my|mine|our|ours|us|we|myself)\b", re.IGNORECASE)
_I = re.compile(r"\bI\b")  # the pronoun is written with a capital; "for i in range" is not about anyone
_GENERIC_I = re.compile(r"\b(how (do|can|would|should)|can) I\b", re.IGNORECASE)  # "how do I ..." asks for anyone


class Relevance:
    """Decides which of a prompt's search hits the hook adds (one per thread: the analyzer keeps a cache)."""

    def __init__(self, analyzer: Analyzer | None = None) -> None:
        self.analyzer = analyzer or Analyzer()
        self.common = frozenset(self.analyzer.terms(_COMMON_TEXT))
        self.work = frozenset(self.analyzer.terms(_WORK_TEXT))
        self.sensitive = frozenset(self.analyzer.terms(_SENSITIVE_TEXT))

    def about_the_user(self, prompt: str, memory: str, sensitive: bool) -> bool:
        """True when `prompt` is about the user: "my", "we", "I" (other than "how do I"; "me" is not enough), or,
        for a sensitive memory, a name it holds (a daughter's, a partner's)."""
        if _ABOUT_THE_USER.search(prompt) or (_I.search(prompt) and not _GENERIC_I.search(prompt)):
            return True
        return sensitive and bool(set(names(memory)) & set(names(prompt)))

    def is_sensitive(self, text: str) -> bool:
        """True when `text` holds a word of health, family or money."""
        return bool(set(self.analyzer.terms(text)) & self.sensitive)

    def told_by_the_user(self, fact: str, said: Sequence[str], user: str = "") -> bool:
        """True when one of the user's own messages `said` is about the user and shares a distinctive word with
        `fact` (not the `user`'s own name): the evidence a sensitive fact drawn from a conversation needs, the
        prompt hook's rule turned round: "write a dosage checker for diabetes patients" never makes "has
        diabetes" a memory."""
        ignored = self.common | set(self.analyzer.terms(user))
        wanted = {term for term in set(self.analyzer.terms(fact)) - ignored if not term.isdigit()}
        people = set(names(fact)) - {user.casefold()}  # "delete Sam's memories" in a task is not about Sam's health
        for message in said:
            personal = _ABOUT_THE_USER.search(message) or (_I.search(message) and not _GENERIC_I.search(message))
            if (personal or people & set(names(message))) and wanted & set(self.analyzer.terms(message)):
                return True
        return False

    def chosen(self, prompt: str, hits: Sequence[SearchHit]) -> list[SearchHit]:
        """The hits (of search without a threshold, best first) worth adding to `prompt`, in their order."""
        asked = set(self.analyzer.terms(prompt))
        measured = [hit.closeness for hit in hits if hit.closeness is not None and hit.match != "weak"]
        closest = max(measured, default=None)
        chosen = []
        for hit in hits:
            if hit.match not in ("strong", "meaning"):
                continue
            terms = set(self.analyzer.terms(hit.memory.text))
            sensitive = bool(terms & self.sensitive)
            personal = self.about_the_user(prompt, hit.memory.text, sensitive)
            if sensitive and not personal:
                continue
            distinctive = {term for term in (asked & terms) - self.common if not term.isdigit()}
            kept_rule = bool(_RULE.search(hit.memory.text))
            by_words = bool(distinctive) and (bool(terms & self.work) or kept_rule or personal)
            by_meaning = (
                personal
                and closest is not None
                and closest >= MEANING_MIN
                and hit.closeness is not None
                and hit.closeness >= TIE * closest
            )
            if by_words or by_meaning:
                chosen.append(hit)
        return chosen
