"""The MCP tools: add, search, read, list, correct and forget memories, each a thin call into the engine.

`register_tools` builds the shared `kit.Toolkit` for a server (its argument types are made from the engine's
limits) and hands it to small registrars, in the order a client lists the tools: `adding`, `remembering`, `finding`,
`changing`, `counting`.
"""

from mcp.server.mcpserver import MCPServer

from ...engine import MemoryEngine
from ...protocols import LanguageModel
from ..roots import Projects
from .adding import register_adding
from .changing import register_changing
from .counting import register_counting
from .finding import register_finding
from .kit import ADVANCED, CORE, Toolkit, announce, tool_errors
from .remembering import register_remembering

__all__ = ["ADVANCED", "CORE", "announce", "register_tools", "tool_errors"]


def register_tools(
    mcp: MCPServer,
    engine: MemoryEngine,
    *,
    default_user: str | None,
    tokens: bool,
    tools: str = "all",
    projects: Projects | None = None,
    language_model: LanguageModel | None = None,
) -> None:
    """Add the memory tools to `mcp` (the `core` five, or `all`), their arguments limited as `engine` is.

    With a `default_user` (one person's server) or `tokens` (each request's token names its user), `user_id`
    may be left out of every call and means that user. `projects` says which project a connection works in
    (searches and lists see the general memories and that project's).
    """
    kit = Toolkit(mcp, engine, default_user=default_user, tokens=tokens, tools=tools, projects=projects)
    kit.language_model = language_model
    for register in (register_adding, register_remembering, register_finding, register_changing, register_counting):
        register(kit)
