"""`memory-mcp users add|passwd|remove|accounts`: the accounts that sign in to an HTTP server (OAuth)."""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import click

from ..app import accounts_of
from ..engine import MemoryEngine
from ..passwords import MIN_LENGTH, hash_password
from ..protocols import AccountStore
from ..validation import ID_PATTERN
from ._common import BadInput, data_options, emit, err, json_option, out, with_engine
from .terminal import escape


def _name(value: str) -> str:
    if not re.fullmatch(ID_PATTERN, value):
        raise BadInput(
            f"{value!r} cannot be an account name: it is also the user id of its memories, so use letters, digits "
            "and . _ @ : + - only."
        )
    return value


def _password(name: str) -> str:
    """From a hidden prompt (asked twice) at a terminal, else the first line of stdin (for scripts)."""
    if sys.stdin.isatty():
        password = str(click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True, err=True))
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        raise BadInput(f"The password needs at least {MIN_LENGTH} characters; nothing was changed.")
    return password


def _change(
    given: Mapping[str, Any], change: Callable[[AccountStore], Awaitable[bool]], *, refused: str, done: str
) -> None:
    """Run one change of the accounts; `refused` is the error when it changed nothing, `done` the message after."""

    async def work(engine: MemoryEngine) -> bool:
        return await change(accounts_of(engine))

    if not with_engine(given, work):
        raise BadInput(refused)
    err.print(done)


@click.command("add")
@click.argument("name")
@data_options
def add_account(name: str, **given: Any) -> None:
    """Create the account NAME (its memories are those of user NAME); the password comes from a prompt or stdin.

    Once a database has an account, `memory-mcp --transport http` signs people in with OAuth."""
    hashed = hash_password(_password(_name(name)))
    _change(
        given,
        lambda store: store.add_account(name, hashed),
        refused=f"There is an account {name!r} already; `memory-mcp users passwd {name}` changes its password.",
        done=f"Account {escape(name)} added: it can sign in to this database's HTTP server.",
    )


@click.command("passwd")
@click.argument("name")
@data_options
def change_password(name: str, **given: Any) -> None:
    """Change the password of the account NAME; its apps must sign in again."""
    hashed = hash_password(_password(name))
    _change(
        given,
        lambda store: store.set_account_password(name, hashed),
        refused=f"There is no account {name!r}; `memory-mcp users accounts` lists them.",
        done=f"Password of {escape(name)} changed; every app it had allowed must sign in again.",
    )


@click.command("remove")
@click.argument("name")
@data_options
def remove_account(name: str, **given: Any) -> None:
    """Remove the account NAME and end its sign-ins. Its memories stay (`memory-mcp delete --all --user NAME`
    deletes them)."""
    _change(
        given,
        lambda store: store.remove_account(name),
        refused=f"There is no account {name!r}; `memory-mcp users accounts` lists them.",
        done=f"Account {escape(name)} removed; its memories were kept.",
    )


@click.command("accounts")
@json_option
@data_options
def list_accounts(as_json: bool, **given: Any) -> None:
    """List the accounts that can sign in over HTTP."""

    async def work(engine: MemoryEngine) -> list[str]:
        return await accounts_of(engine).account_names()

    names = with_engine(given, work)
    if as_json:
        emit({"accounts": names})
        return
    for name in names:
        out.print(escape(name))
    if not names:
        err.print("No accounts: `memory-mcp users add NAME` creates one.")


COMMANDS = (add_account, change_password, remove_account, list_accounts)
