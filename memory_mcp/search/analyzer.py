"""Analyzer: text -> normalised words and Snowball-stemmed search terms (English), shared by both search legs."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import Stemmer

VERSION: Final = "en-snowball-v1"

_WORD = re.compile(r"\w+")

# Function words carry no meaning of their own; left in, they make every text look alike.
_STOPWORD_TEXT: Final = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves s t d ll m re ve
"""
STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())


_APOSTROPHES: Final = "'\u2019"
_NAME = re.compile(rf"\b[^\W\d_][\w{_APOSTROPHES}]*")


def names(text: str) -> list[str]:
    """The words of `text` written with a capital (Alice, Leeds, Kreuzberg), case-folded, function words left out:
    what a person or a place is called. Memories of one user share them often, so they alone do not make two
    memories alike."""
    folded = (word for word in _NAME.findall(unicodedata.normalize("NFKC", text)) if word[0].isupper())
    found = [re.split(f"[{_APOSTROPHES}]", word.casefold())[0] for word in folded]  # Alice's -> alice
    return [word for word in found if word not in STOPWORDS]


def words(text: str) -> list[str]:
    """The words of `text`: NFKC-normalised, case-folded, stopwords dropped, in order."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [word for word in _WORD.findall(folded) if word not in STOPWORDS]


class Analyzer:
    """Search terms for the keyword leg: the words of a text, reduced to their Snowball (Porter 2) stems.

    "hiking", "hikes" and "hiked" all become "hike", so a question and a memory match although they
    inflect a word differently. Not thread-safe (the stemmer keeps a cache): one per thread.
    """

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")

    @property
    def id(self) -> str:
        """Version of the analysis; terms of different versions are never compared."""
        return VERSION

    def terms(self, text: str) -> list[str]:
        """Stemmed terms of `text`, in order, with repeats (term frequency counts)."""
        return list(self._stemmer.stemWords(words(text)))

    def name_terms(self, text: str) -> set[str]:
        """The terms of the names in `text` (see `names`)."""
        return set(self._stemmer.stemWords(names(text)))
