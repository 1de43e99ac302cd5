"""The tools' argument fields, with the descriptions the model reads and the limits of this server's settings."""

# No `from __future__ import annotations`: these types are built at run time from the engine's limits.

import inspect
from collections.abc import Callable
from typing import Any, Final

from mcp.types import ToolAnnotations
from pydantic import Field

from ..filters import OPERATORS
from ..models import Limits

ADD: Final = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
REMEMBER: Final = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
"""remember_conversation: a language model decides, so the same call need not do the same twice."""
READ: Final = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
DESTRUCTIVE: Final = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)

FILTER_HELP: Final = (
    'Optional metadata filter: {"topic": "food"}, {"rating": {"gte": 4}}; operators '
    + ", ".join(OPERATORS)
    + '; combine with {"AND": [...]}, {"OR": [...]}, {"NOT": {...}}.'
)


def _identifier(description: str, limits: Limits) -> Any:
    """An id argument. The engine checks its length and characters and says so in its errors (a pattern and a
    length in every id field of every tool would cost each conversation some 1,100 bytes); `limits` is kept for
    the day a field needs them."""
    return Field(description=description)


def user_id_field(limits: Limits, *, default: str | None = None, tokens: bool = False) -> Any:
    """The user whose memories a tool uses: required, or optional when the server knows whom it serves."""
    if default is not None:
        told = f"Omit it: this server keeps the memories of {default!r}. Pass an id only for someone else."
    elif tokens:
        told = "Omit it: your access token decides whose memories these are (you may only name that user)."
    else:
        told = "A stable id for the person (e.g. their username), the same in every call."
    return _identifier(told, limits)


def agent_id_field(limits: Limits, *, write: bool = False) -> Any:
    """The optional agent: on a write, the one the memory is stored under; on a read, the one to narrow to."""
    if write:
        return _identifier(
            "Optional: store the memory for one agent (assistant persona) only; omit to store it for the user.",
            limits,
        )
    return _identifier("Optional: only memories of one agent (assistant persona). Omit to use all.", limits)


def run_id_field(limits: Limits, *, write: bool = False) -> Any:
    """The optional run: on a write, the one the memory is stored under; on a read, the one to narrow to."""
    if write:
        return _identifier(
            "Optional: store the memory for one run (conversation or session) only; omit to keep it beyond it.",
            limits,
        )
    return _identifier("Optional: only memories of one run (conversation or session). Omit to use all.", limits)


def project_field(limits: Limits, use: str) -> Any:
    """The optional project (workspace): on a write (`use="write"`) where the memory is kept, on a read (`"read"`)
    what is seen besides the user's general memories, for forgetting everything (`"forget"`) whose memories go."""
    told = {
        "write": 'Optional: keep it to one project (workspace): its name, or "current" for the one you work in. '
        "Omit to keep it for the user everywhere.",
        "read": "Optional: a project (workspace) to look in besides the user's general memories. Omit: the one you "
        'work in; "*": all.',
        "forget": 'Optional: forget only this project\'s own memories (its name, or "current"). Omit for all.',
    }[use]
    return Field(description=told)


def memory_id_field(limits: Limits) -> Any:
    """One memory's id."""
    return Field(description="The id of a memory, as returned by search_memory, list_memories or add_memory.")


def metadata_field(limits: Limits) -> Any:
    """The caller's own JSON fields of a memory."""
    return Field(
        description='Optional JSON object of your own fields, e.g. {"topic": "food", "confidence": 0.9}. '
        f"At most {limits.max_metadata_bytes} bytes; keys user_id, agent_id and run_id are not allowed."
    )


FILTERS: Final = Field(description=FILTER_HELP)
AS_OF: Final = Field(description="Optional ISO date or time: show what was true then (superseded facts included).")
OLDER: Final = Field(description="true: include superseded (no longer current) memories.")
ENTITY: Final = Field(description='Optional: only memories about this entity, e.g. "Caroline".', max_length=200)


def entities_field(limits: Limits) -> Any:
    """The names a memory is about."""
    return Field(
        description=f'Optional: who or what it is about, e.g. ["Caroline"] (at most {limits.max_entities}).',
        max_length=limits.max_entities,
    )


VALID_FROM: Final = Field(description='Optional: since when it is true if earlier than now, e.g. "2024-03".')


def optional_user_signature(fn: Callable[..., Any], annotation: Any) -> inspect.Signature:
    """`fn`'s signature with `user_id` optional (None: the server's user) and every argument keyword-only, so
    that an optional first argument may precede required ones (the SDK reads `__signature__`)."""
    parameters = []
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.name == "user_id":
            parameter = parameter.replace(annotation=annotation, default=None)
        parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    return inspect.signature(fn).replace(parameters=parameters)
