"""The prompts a person can pick in the host: review what is remembered, and forget a topic."""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from .fields import optional_user_signature

_F = TypeVar("_F", bound=Callable[..., Any])

PromptUser = Annotated[str, Field(description="Whose memories: the user id the assistant uses for you.")]
OptionalPromptUser = Annotated[str | None, Field(description="Whose memories; leave it out for the server's own user.")]


def register_prompts(mcp: MCPServer, *, default_user: str | None = None) -> None:
    """Add the prompts to `mcp`; with a `default_user`, their user_id may be left out."""

    def prompt(name: str, title: str) -> Callable[[_F], _F]:
        def register(fn: _F) -> _F:
            if default_user is not None:
                fn.__signature__ = optional_user_signature(fn, OptionalPromptUser)  # type: ignore[attr-defined]
            return mcp.prompt(name=name, title=title)(fn)

        return register

    def whose(user_id: str | None) -> str:
        """How the prompt names the user to the tools: not at all when the server knows whom it serves."""
        return "" if user_id is None else f" with user_id {user_id!r}"

    @prompt("what_do_you_remember", "What do you remember about me?")
    def what_do_you_remember(user_id: PromptUser) -> str:
        """Review everything the assistant has stored about you, grouped by topic."""
        return (
            f"What do you remember about me? Call list_memories{whose(user_id)} (follow next_cursor until "
            "it is null) to read everything stored about me. Then summarise it for me grouped by topic, each point "
            "with its memory id. Point out anything that looks outdated or contradictory and offer to correct it "
            "with update_memory or remove it with delete_memory. Do not change anything until I say so."
        )

    @prompt("forget_about", "Forget everything about a topic")
    def forget_about(
        user_id: PromptUser,
        topic: Annotated[str, Field(description="What to forget, in a few words, e.g. 'my old job'.")],
    ) -> str:
        """Find every memory about a topic, confirm with you, then delete them."""
        return (
            f"Forget everything you remember about {topic!r}. Call search_memory{whose(user_id)} for "
            f"{topic!r} with limit 50 (and again with other wordings of it), and show me every memory that is "
            "really about it, with its id. Leave out memories that only mention it in passing. After I confirm, "
            "call delete_memory for each one I approved and tell me what was forgotten (each memory's history "
            "is kept)."
        )
