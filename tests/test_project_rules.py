"""One rule for which project a call names, shared by the tools, the REST API and the command line."""

from __future__ import annotations

import pytest

from memory_mcp.errors import InvalidInputError
from memory_mcp.projects import ALL, CURRENT, asks_for_current, chosen


def pick(given: str | None, read: bool, current: str | None = "app") -> str | None:
    return chosen(given, read=read, current=current, argument="project", no_current="none is open")


def test_reads_see_the_current_project_or_every_one_writes_none_unless_asked() -> None:
    assert pick(None, read=True) == "app"  # a read: the current project (and the general memories)
    assert pick(None, read=True, current=None) is None  # no current one: every project
    assert pick(ALL, read=True) is None
    assert pick(None, read=False) is None  # a write: the user's everywhere
    assert pick(CURRENT, read=False) == "app"
    assert pick("other", read=False) == pick("other", read=True) == "other"
    assert [asks_for_current(given, read=read) for given, read in [(None, True), (None, False), (CURRENT, False)]] == [
        True,
        False,
        True,
    ]
    assert not asks_for_current("other", read=True)


def test_every_project_on_a_write_and_a_missing_current_one_are_refused_with_the_faces_words() -> None:
    with pytest.raises(InvalidInputError, match=r'project "\*" \(every project\) is only for reads'):
        pick(ALL, read=False)
    with pytest.raises(InvalidInputError, match=r'--project "current": not in a git repository\. Name the project'):
        chosen(CURRENT, read=False, current=None, argument="--project", no_current="not in a git repository")
