"""The prompts a person can pick in the host: review what is remembered, and forget a topic."""

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

PromptUser = Annotated[str, Field(description="Whose memories: the user id the assistant uses for you.")]


def register_prompts(mcp: MCPServer) -> None:
    """Add the prompts to `mcp`."""

    @mcp.prompt(name="what_do_you_remember", title="What do you remember about me?")
    def what_do_you_remember(user_id: PromptUser) -> str:
        """Review everything the assistant has stored about you, grouped by topic."""
        return (
            f"What do you remember about me? Call list_memories with user_id {user_id!r} (follow next_cursor until "
            "it is null) to read everything stored about me. Then summarise it for me grouped by topic, each point "
            "with its memory id. Point out anything that looks outdated or contradictory and offer to correct it "
            "with update_memory or remove it with delete_memory. Do not change anything until I say so."
        )

    @mcp.prompt(name="forget_about", title="Forget everything about a topic")
    def forget_about(
        user_id: PromptUser,
        topic: Annotated[str, Field(description="What to forget, in a few words, e.g. 'my old job'.")],
    ) -> str:
        """Find every memory about a topic, confirm with you, then delete them."""
        return (
            f"Forget everything you remember about {topic!r}. Call search_memory with user_id {user_id!r}, query "
            f"{topic!r} and limit 50 (and again with other wordings of it), and show me every memory that is "
            "really about it, with its id. Leave out memories that only mention it in passing. After I confirm, "
            "call delete_memory for each one I approved and tell me what was forgotten; memory_history still "
            "shows what was deleted."
        )
