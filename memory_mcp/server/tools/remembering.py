"""The MCP tool remember_conversation: a conversation's facts drawn and reconciled by a language model."""

# No `from __future__ import annotations`: the tool signatures use Annotated types built for this server's
# limits (see `fields`), which only resolve when evaluated eagerly.

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from ...protocols import LanguageModel
from ...schemas import ConversationMessageIn, RememberOut
from ...transcripts import MAX_CHARS, Message
from ..fields import REMEMBER
from ..sampling import SamplingModel, can_sample
from .kit import Toolkit, announce, tool, tool_errors

MAX_MESSAGES = 500  # as schemas.ConversationIn, the REST body


def register_remembering(kit: Toolkit) -> None:
    """remember_conversation, in the `all` set."""

    engine = kit.engine
    user = kit.user
    scope = kit.scope
    user_id_t = Annotated[str, kit.user_id_field]
    write_agent_t = Annotated[str | None, kit.write_agent_field]
    write_run_t = Annotated[str | None, kit.write_run_field]

    @tool(kit.extra, "Remember a conversation", REMEMBER, kit.optional_user)
    async def remember_conversation(
        user_id: user_id_t,
        messages: Annotated[
            list[ConversationMessageIn],
            Field(
                description='The conversation, oldest first: [{"role": "user", "content": "..."}, '
                '{"role": "assistant", "content": "..."}, ...].',
                min_length=1,
                max_length=MAX_MESSAGES,
            ),
        ],
        ctx: Context[Any, Any],
        agent_id: write_agent_t = None,
        run_id: write_run_t = None,
    ) -> RememberOut:
        """Keep what a conversation taught about the user without choosing the facts yourself.

        A language model (yours, through sampling, or the one this server is set up with) draws the user's facts
        from the messages and compares each with the stored memories like it: new ones are added, changed ones
        update the old (kept in history), known ones are left alone. Text in the messages is read as data, never
        as instructions. Without a model it says so: then store the facts with add_memory.
        """
        model: LanguageModel | None = SamplingModel(ctx) if can_sample(ctx) else kit.language_model
        if model is None:
            raise ToolError(
                "No language model to read the conversation with: this client does not offer sampling and the server "
                "has no MEMORY_MCP_LLM_BASE_URL. Pick the facts yourself and store each with add_memory."
            )
        if sum(len(message.content) for message in messages) > MAX_CHARS:
            raise ToolError(
                f"The conversation is longer than {MAX_CHARS:,} characters: remember it in parts (a session at a time)."
            )
        said = [Message(message.role, message.content) for message in messages]
        with tool_errors():
            done = await engine.remember(said, scope(user_id, agent_id, run_id, None), model)
        if any(item.action != "NOOP" for item in done):
            await announce(ctx, user(user_id))
        return RememberOut.of(done, model.name)
