"""`memory-mcp remember`: a conversation's facts drawn by a language model and reconciled with the user's memories."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..app import open_configured
from ..chat import OpenAIChat
from ..engine.remembering import Remembered
from ..errors import InvalidInputError
from ..transcripts import read_transcript
from ..wire import memory_json
from ._common import BadInput, data_options, emit, json_option, out, run, scope_options, settings_of


@click.command("remember")
@click.argument("source", metavar="FILE|-")
@scope_options()
@json_option
@data_options
def remember_command(
    source: str, user_id: str, agent_id: str | None, run_id: str | None, as_json: bool, **given: Any
) -> None:
    """Remember a conversation: a language model draws the user's facts from it and reconciles each with what is
    stored (added, superseded with history, or already known).

    FILE (or - for stdin) is a JSON array or JSON lines of {"role", "content"}, or a Claude Code transcript. The
    model is the OpenAI-compatible chat API of --llm-base-url and --llm-model (e.g. Ollama's).
    """
    settings = settings_of(given)
    if not settings.llm_base_url or not settings.llm_model:
        raise BadInput(
            "remember needs a language model: set MEMORY_MCP_LLM_BASE_URL and MEMORY_MCP_LLM_MODEL (or --llm-base-url "
            "and --llm-model), e.g. http://localhost:11434/v1 and llama3.2 for Ollama. Without one, add the facts "
            "yourself with memory-mcp add."
        )
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read the conversation from {source}: {exc}.") from None
    try:
        messages = read_transcript(raw)
    except InvalidInputError as exc:
        raise BadInput(str(exc)) from None
    base_url, model_name = settings.llm_base_url, settings.llm_model

    async def body() -> list[Remembered]:
        model = OpenAIChat(
            base_url=base_url, model=model_name, api_key=settings.llm_api_key, timeout=settings.llm_timeout
        )
        try:
            async with open_configured(settings, index=True) as engine:
                return await engine.remember(messages, engine.scope(user_id, agent_id, run_id), model)
        finally:
            await model.aclose()

    done = run(body())
    if as_json:
        emit(
            [
                {
                    "fact": item.fact,
                    "event": item.action,
                    "memory": None if item.memory is None else memory_json(item.memory),
                    **({"replaced": item.replaced.id} if item.replaced else {}),
                }
                for item in done
            ]
        )
        return
    if not done:
        out.print("The model found no fact worth remembering; nothing changed.")
    for item in done:
        if item.memory is None:
            out.print(
                f"skipped            {item.fact}  (health, family or money, not said by the user about themselves)"
            )
        elif item.action == "ADD":
            out.print(f"added    {item.memory.id[:8]}  {item.fact}")
        elif item.action == "UPDATE":
            assert item.replaced is not None
            out.print(f"updated  {item.memory.id[:8]}  {item.fact}  (replaces {item.replaced.id[:8]}, kept in history)")
        else:
            out.print(f"known    {item.memory.id[:8]}  {item.fact}  (as {item.memory.text!r})")


COMMANDS = (remember_command,)
