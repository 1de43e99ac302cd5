"""The commands on one user's memories: list, search, show, history, add, edit, link, unlink, delete.

Nine short click commands side by side (each an option list and a call into the engine); they share the
helpers of `_common`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import TYPE_CHECKING, Any, Final

import click

from .. import recall
from ..locations import database_key
from ..models import HistoryEntry, Memory, Scope
from ..projects import working_project
from ..wire import history_json, link_json, linked_memory_json, memory_json, page_json
from ._common import (
    BadInput,
    Failure,
    advancer,
    chosen_project,
    data_options,
    emit,
    entity_option,
    err,
    full_id,
    json_option,
    memory_table,
    out,
    parse_json,
    progress_bar,
    project_option,
    scope_options,
    settings_of,
    validity_options,
    with_engine,
)
from .terminal import Table, escape

if TYPE_CHECKING:  # the engine (and numpy with it) loads when a command opens it
    from ..engine import MemoryEngine


@click.command("list")
@scope_options()
@project_option("read")
@click.option("--limit", "-n", default=20, show_default=True, help="How many, newest first.")
@click.option("--cursor", help="Continue after a previous page (its next_cursor).")
@click.option("--filter", "filter_json", metavar="JSON", help='Metadata filter, e.g. \'{"topic": "food"}\'.')
@entity_option
@validity_options
@json_option
@data_options
def list_command(
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    project: str | None,
    limit: int,
    cursor: str | None,
    filter_json: str | None,
    entity: str | None,
    as_of: str | None,
    include_superseded: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """List a user's memories, newest first (the current ones, unless --as-of or --include-superseded)."""
    filters = parse_json(filter_json)
    seen = chosen_project(project, read=True)
    page = with_engine(
        given,
        lambda engine: engine.page(
            engine.scope(user_id, agent_id, run_id, seen),
            cursor=cursor,
            limit=limit,
            filters=filters,
            validity=engine.validity(as_of, include_superseded),
            entity=entity,
        ),
    )
    result = page_json(page)
    if as_json:
        emit(result)
        return
    where = "" if seen is None else f" (general and project {seen}'s; --project '*' for all)"
    out.print(memory_table(result["memories"], title=f"{user_id}{where}: {len(page.memories)} of {page.total}"))
    if page.next_cursor:
        more = f"memory-mcp list --user {shlex.quote(user_id)} --cursor {shlex.quote(page.next_cursor)}"
        out.print(f"More: {more}")


@click.command("search")
@click.argument("query")
@scope_options()
@project_option("read")
@click.option("--limit", "-n", default=10, show_default=True, help="How many results at most.")
@click.option("--threshold", type=float, help="Minimum score, from -1 to 1.")
@click.option("--filter", "filter_json", metavar="JSON", help="Metadata filter (see list).")
@entity_option
@validity_options
@click.option("--neighbors", default=0, show_default=True, help="Also the memories linked to the results (hops).")
@json_option
@data_options
def search_command(
    query: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    project: str | None,
    limit: int,
    threshold: float | None,
    filter_json: str | None,
    entity: str | None,
    as_of: str | None,
    include_superseded: bool,
    neighbors: int,
    as_json: bool,
    **given: Any,
) -> None:
    """Find a user's memories most related to QUERY, best first."""
    filters = parse_json(filter_json)
    seen = chosen_project(project, read=True)
    request = {
        "query": query,
        "user": user_id,
        "agent": agent_id,
        "run": run_id,
        "project": seen,
        "limit": limit,
        "threshold": threshold,
        "filters": filters,
        "as_of": as_of,
        "include_superseded": include_superseded,
        "entity": entity,
        "neighbors": neighbors,
    }
    # A stdio server running for this database (as an assistant keeps one) has the index loaded: it answers at
    # once when it searches with these settings; else, or on any refusal, the command searches itself.
    settings = settings_of(given)
    results = recall.ask_search(
        database_key(settings.location),
        {
            **request,
            "settings": recall.search_settings(
                settings.embedder, settings.embed_dim, settings.vector_weight, settings.max_results
            ),
        },
    )
    if results is None:
        results = with_engine(given, lambda engine: recall.found(engine, request), index=True)
    if as_json:
        emit({"results": results})
    elif not results:
        err.print(f"Nothing stored for {user_id} matches {query!r}.")
    else:
        marks = [_MARKS.get(hit["match"], "") for hit in results]
        out.print(memory_table(results, scores=[hit["score"] for hit in results], marks=marks))
        if "~" in marks:
            err.print("~ found by meaning: it shares few or no words with the query; judge if it fits.")
        if "*" in marks:
            err.print("* a weak match: the nearest of what is stored, maybe unrelated. Try other words for more.")
        for hit in results:
            if hit["match"] == "linked":
                err.print(f"{hit['id'][:8]} is linked ({hit['link']}) to {hit['linked_from'][:8]}, not matched.")


_MARKS: Final = {"weak": "*", "meaning": "~"}
"""The mark after a search result's score, by its match."""


@click.command("show")
@click.argument("memory_id")
@scope_options()
@json_option
@data_options
def show_command(
    memory_id: str, user_id: str, agent_id: str | None, run_id: str | None, as_json: bool, **given: Any
) -> None:
    """Show one memory, with its links."""

    async def show(engine: MemoryEngine) -> dict[str, Any]:
        where = engine.scope(user_id, agent_id, run_id)
        return linked_memory_json(*await engine.get_linked(await full_id(engine, memory_id, where), where))

    memory = with_engine(given, show)
    if as_json:
        emit(memory)
        return
    links = memory.pop("links")
    for name, value in memory.items():
        if value not in (None, {}, []):
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
            out.print(f"[bold]{name:>13}[/bold]  {escape(shown)}")
    for link in links:
        outgoing = link["source_id"] == memory["id"]
        other = link["target_id"] if outgoing else link["source_id"]
        arrow = f"-{link['type']}->" if outgoing else f"<-{link['type']}-"
        out.print(f"[bold]{'link':>13}[/bold]  {escape(arrow)} {other}")


@click.command("history")
@click.argument("memory_id")
@scope_options()
@json_option
@data_options
def history_command(
    memory_id: str, user_id: str, agent_id: str | None, run_id: str | None, as_json: bool, **given: Any
) -> None:
    """Show how one memory changed (also after it was deleted)."""

    async def history(engine: MemoryEngine) -> list[HistoryEntry]:
        where = engine.scope(user_id, agent_id, run_id)
        return await engine.history(await full_id(engine, memory_id, where), where)

    found = with_engine(given, history)
    entries = [history_json(entry) for entry in found]
    if as_json:
        emit({"memory_id": memory_id, "history": entries})
        return
    table = Table(title=f"history of {memory_id}")
    for column in ("when", "event", "before", "after"):
        table.add_column(column, no_wrap=column == "when")
    for entry in entries:
        table.add_row(
            entry["created_at"][:19].replace("T", " "),
            entry["event"],
            escape(entry["old_text"] or ""),
            escape(entry["new_text"] or ""),
        )
    out.print(table)


@click.command("add")
@click.argument("text")
@scope_options()
@project_option("write")
@click.option("--metadata", "metadata_json", metavar="JSON", help='Your own fields, e.g. \'{"topic": "food"}\'.')
@click.option("--entity", "entities", metavar="NAME", multiple=True, help="Who or what it is about (repeatable).")
@click.option("--valid-from", metavar="WHEN", help="Since when it is true, if before now (e.g. 2024-03).")
@json_option
@data_options
def add_command(
    text: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    project: str | None,
    metadata_json: str | None,
    entities: tuple[str, ...],
    valid_from: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Remember TEXT for a user (an exact duplicate is not stored twice)."""
    metadata = parse_json(metadata_json)
    kept_in = chosen_project(project, read=False)
    scope_args = (user_id, agent_id, run_id, kept_in)
    result = with_engine(
        given,
        lambda engine: engine.add(
            text,
            engine.scope(*scope_args),
            metadata,
            current_project=kept_in or working_project(),
            entities=list(entities),
            valid_from=valid_from,
        ),
    )
    memory = memory_json(result.memory)
    if as_json:
        emit({**memory, "event": "ADD" if result.created else "NOOP"})
    elif result.created:
        out.print(f"Added {memory['id']}")
    else:
        out.print(f"Already remembered as {memory['id']}; nothing added.")


@click.command("edit")
@click.argument("memory_id")
@scope_options()
@click.option("--text", help="The new text (without --text or --metadata, your $EDITOR opens on the old one).")
@click.option("--metadata", "metadata_json", metavar="JSON", help="New metadata, replacing the old object.")
@click.option("--entity", "entities", metavar="NAME", multiple=True, help="New entities, replacing the old ones.")
@click.option(
    "--keep-history", is_flag=True, help="The fact changed (not a mistake): keep the old memory as past, add the new."
)
@click.option("--valid-from", metavar="WHEN", help="With --keep-history: since when the new fact is true.")
@json_option
@data_options
def edit_command(
    memory_id: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    text: str | None,
    metadata_json: str | None,
    entities: tuple[str, ...],
    keep_history: bool,
    valid_from: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Correct a memory's text, metadata or entities (the change is kept in its history); with --keep-history,
    record that the fact changed: the old memory stays as a past fact and a new one is current."""
    metadata = parse_json(metadata_json)
    names = list(entities) if entities else None
    if valid_from is not None and not keep_history:
        raise click.UsageError("--valid-from goes with --keep-history (it dates the new fact).")

    async def edit(engine: MemoryEngine) -> Memory:
        where = engine.scope(user_id, agent_id, run_id)
        chosen = await full_id(engine, memory_id, where)
        new_text = text
        if text is None and metadata_json is None and names is None:
            old = await engine.get(chosen, where)
            if not _can_edit():
                raise BadInput(
                    "No editor to open here (no terminal, and no $VISUAL or $EDITOR): give the new text with --text."
                )
            edited = click.edit(old.text + "\n", require_save=True)
            if edited is None or edited.strip() == old.text:
                raise Failure("Nothing changed: the text was not edited.")
            new_text = edited
        if keep_history and new_text is None:
            raise BadInput("--keep-history needs the new text (--text, or your editor without other options).")
        _, memory = await engine.revise(
            chosen,
            where,
            text=new_text,
            metadata=metadata,
            entities=names,
            keep_history=keep_history,
            valid_from=valid_from,
        )
        return memory

    memory = memory_json(with_engine(given, edit))
    if as_json:
        emit(memory)
    elif keep_history:
        out.print(f"Added {memory['id']}: {escape(memory['text'])} (superseding {memory_id})")
    else:
        out.print(f"Updated {memory['id']}: {escape(memory['text'])}")


@click.command("link")
@click.argument("source_id")
@click.argument("target_id")
@scope_options()
@click.option("--type", "link_type", default="relates_to", show_default=True, help="relates_to, part_of, ... or yours.")
@click.option("--metadata", "metadata_json", metavar="JSON", help="Your own fields of the link.")
@json_option
@data_options
def link_command(
    source_id: str,
    target_id: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    link_type: str,
    metadata_json: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Link memory SOURCE_ID to TARGET_ID (directed; a search with --neighbors then brings one with the other)."""
    metadata = parse_json(metadata_json)

    async def link(engine: MemoryEngine) -> tuple[dict[str, Any], bool]:
        where = engine.scope(user_id, agent_id, run_id)
        source, target = await full_id(engine, source_id, where), await full_id(engine, target_id, where)
        made, created = await engine.link(where, source, target, link_type, metadata)
        return link_json(made), created

    made, created = with_engine(given, link)
    if as_json:
        emit({"link": made, "created": created})
    else:
        state = "Linked" if created else "Already linked"
        out.print(f"{state}: {made['source_id']} -{made['type']}-> {made['target_id']}")


@click.command("unlink")
@click.argument("source_id")
@click.argument("target_id")
@scope_options()
@click.option("--type", "link_type", help="Only links of this type (default: every link between the two).")
@json_option
@data_options
def unlink_command(
    source_id: str,
    target_id: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    link_type: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Remove the links from SOURCE_ID to TARGET_ID (the memories stay)."""

    async def unlink(engine: MemoryEngine) -> list[dict[str, Any]]:
        where = engine.scope(user_id, agent_id, run_id)
        source, target = await full_id(engine, source_id, where), await full_id(engine, target_id, where)
        return [link_json(link) for link in await engine.unlink(where, source, target, link_type)]

    removed = with_engine(given, unlink)
    if as_json:
        emit({"removed": removed})
    else:
        for link in removed:
            out.print(f"Unlinked: {link['source_id']} -{link['type']}-> {link['target_id']}")


@click.command("delete")
@click.argument("memory_ids", metavar="[ID]...", nargs=-1)
@scope_options()
@project_option("forget")
@click.option("--all", "everything", is_flag=True, help="Delete every memory of the user (or of --agent/--run).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting everything.")
@json_option
@data_options
def delete_command(
    memory_ids: tuple[str, ...],
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    project: str | None,
    everything: bool,
    yes: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Forget memories by id, or all of a user's with --all (their history is kept)."""
    if everything == bool(memory_ids):
        raise click.UsageError("Give memory ids, or --all (not both).")
    if project is not None and not everything:
        raise click.UsageError("--project goes with --all; memories given by id are found in every project.")
    forgotten = chosen_project(project, read=False)

    async def delete_all(engine: MemoryEngine) -> int:
        where = engine.scope(user_id, agent_id, run_id, forgotten)
        count = await engine.count(where)
        if count and not yes:
            if not sys.stdin.isatty():
                raise BadInput(f"This deletes all {count} memories of {user_id}; add --yes to confirm.")
            click.confirm(f"Delete all {count} memories of {user_id}?", abort=True, err=True)
        with progress_bar("deleting", count) as advance:
            return await engine.delete_all(where, progress=advancer(advance))

    async def delete_some(engine: MemoryEngine) -> list[Memory]:
        where = engine.scope(user_id, agent_id, run_id)
        return [await engine.delete(await full_id(engine, memory_id, where), where) for memory_id in memory_ids]

    if everything:
        deleted = with_engine(given, delete_all)
        if as_json:
            emit({"deleted": deleted})
        else:
            out.print(f"Deleted {deleted} memories of {user_id}.")
        return
    gone = [memory_json(memory) for memory in with_engine(given, delete_some)]
    if as_json:
        emit({"deleted": gone})
    else:
        for memory in gone:
            out.print(f"Deleted {memory['id']}: {escape(memory['text'])}")


async def _get(engine: MemoryEngine, memory_id: str, scope: Scope) -> Memory:
    return await engine.get(await full_id(engine, memory_id, scope), scope)


def _can_edit() -> bool:
    """True when click.edit can open an editor: one is named, or there is a terminal for the fallback (vi)."""
    return bool(os.environ.get("VISUAL") or os.environ.get("EDITOR")) or (sys.stdin.isatty() and sys.stdout.isatty())


COMMANDS = (
    list_command,
    search_command,
    show_command,
    history_command,
    add_command,
    edit_command,
    link_command,
    unlink_command,
    delete_command,
)
