"""Settings: flags beat env vars, env vars beat defaults, bad values name their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_mcp.cli._common import parse_settings
from memory_mcp.config import OPTIONS
from memory_mcp.errors import ConfigError
from memory_mcp.locations import default_db_path


def test_defaults_use_the_xdg_data_folder() -> None:
    settings = parse_settings([], {"HOME": "/home/ann"})
    assert Path(settings.db) == Path("/home/ann/.local/share/memory-mcp/memory.db")
    assert settings.embed_dim == 256
    assert settings.embedder == "default"
    assert settings.search_vector_weight == 0.3
    assert parse_settings(["--embedder", "hash"], {}).search_vector_weight == 0.1
    assert parse_settings(["--embedder", "openai"], {}).search_vector_weight == 0.3
    assert settings.reembed is False
    assert default_db_path({"XDG_DATA_HOME": "/data"}) == Path("/data/memory-mcp/memory.db")


# Every MEMORY_MCP_* variable, a value other than its default, and the setting it must produce.
CHANGES: dict[str, tuple[str, str, object]] = {
    "MEMORY_MCP_DB": ("/tmp/x.db", "db", "/tmp/x.db"),
    "MEMORY_MCP_DATABASE_URL": (
        "postgresql://me:pw@db:5432/memory",
        "database_url",
        "postgresql://me:pw@db:5432/memory",
    ),
    "MEMORY_MCP_PG_POOL_MIN": ("2", "pg_pool_min", 2),
    "MEMORY_MCP_PG_POOL_MAX": ("20", "pg_pool_max", 20),
    "MEMORY_MCP_TRANSPORT": ("streamable-http", "transport", "http"),
    "MEMORY_MCP_HOST": ("::1", "host", "::1"),
    "MEMORY_MCP_PORT": ("9000", "port", 9000),
    "MEMORY_MCP_WORKERS": ("4", "workers", 4),
    "MEMORY_MCP_TOKENS_FILE": ("/etc/memory/tokens.json", "tokens_file", "/etc/memory/tokens.json"),
    "MEMORY_MCP_ALLOW_LOOPBACK_CLIENTS": ("1", "allow_loopback_clients", True),
    "MEMORY_MCP_ALLOWED_HOSTS": ("Memory.Example.com, *", "allowed_hosts", ("memory.example.com", "*")),
    "MEMORY_MCP_TRUSTED_PROXIES": ("10.0.0.1, 192.168.0.0/16", "trusted_proxies", ("10.0.0.1", "192.168.0.0/16")),
    "MEMORY_MCP_PUBLIC_URL": ("https://memory.example.com/mcp/", "public_url", "https://memory.example.com/mcp"),
    "MEMORY_MCP_ALLOW_UNAUTHENTICATED": ("yes", "allow_unauthenticated", True),
    "MEMORY_MCP_EMBEDDER": ("sentence-transformers", "embedder", "local"),
    "MEMORY_MCP_OPENAI_BASE_URL": ("http://localhost:11434/v1", "openai_base_url", "http://localhost:11434/v1"),
    "MEMORY_MCP_OPENAI_MODEL": ("nomic-embed-text", "openai_model", "nomic-embed-text"),
    "MEMORY_MCP_OPENAI_API_KEY": ("sk-x", "openai_api_key", "sk-x"),
    "MEMORY_MCP_OPENAI_TIMEOUT": ("5", "openai_timeout", 5.0),
    "MEMORY_MCP_LOCAL_MODEL": ("/models/mini", "local_model", "/models/mini"),
    "MEMORY_MCP_LLM_BASE_URL": ("http://localhost:11434/v1", "llm_base_url", "http://localhost:11434/v1"),
    "MEMORY_MCP_LLM_MODEL": ("llama3.2", "llm_model", "llama3.2"),
    "MEMORY_MCP_LLM_API_KEY": ("sk-test", "llm_api_key", "sk-test"),
    "MEMORY_MCP_LLM_TIMEOUT": ("5", "llm_timeout", 5.0),
    "MEMORY_MCP_EMBED_DIM": ("512", "embed_dim", 512),
    "MEMORY_MCP_VECTOR_WEIGHT": ("0.25", "vector_weight", 0.25),
    "MEMORY_MCP_REEMBED": ("yes", "reembed", True),
    "MEMORY_MCP_MAX_TEXT_CHARS": ("50", "max_text_chars", 50),
    "MEMORY_MCP_MAX_METADATA_BYTES": ("100", "max_metadata_bytes", 100),
    "MEMORY_MCP_MAX_METADATA_DEPTH": ("2", "max_metadata_depth", 2),
    "MEMORY_MCP_MAX_RESULTS": ("7", "max_results", 7),
    "MEMORY_MCP_MAX_BATCH": ("9", "max_batch", 9),
    "MEMORY_MCP_RESOURCE_LIMIT": ("5", "resource_limit", 5),
    "MEMORY_MCP_LOG_LEVEL": ("debug", "log_level", "DEBUG"),
    "MEMORY_MCP_USER": ("sam@example.com", "user", "sam@example.com"),
    "MEMORY_MCP_TOOLS": ("All", "tools", "all"),
    "MEMORY_MCP_PROJECT": ("shop-web", "project", "shop-web"),
}


def test_the_table_covers_every_option() -> None:
    assert set(CHANGES) == {option.env for option in OPTIONS}


@pytest.mark.parametrize(("variable", "change"), CHANGES.items(), ids=list(CHANGES))
def test_each_env_var_changes_its_setting(variable: str, change: tuple[str, str, object]) -> None:
    """Set alone, each variable moves its own setting away from the default, to the value it names."""
    value, name, expected = change
    default = getattr(parse_settings([], {"HOME": "/home/ann"}), name)
    assert default != expected, f"{variable}: pick a value other than the default {default!r}"
    settings = parse_settings([], {"HOME": "/home/ann", variable: value})
    assert getattr(settings, name) == expected


def test_settings_feed_the_pool_limits_and_location() -> None:
    env = {name: value for name, (value, _, _) in CHANGES.items()}
    settings = parse_settings([], env)
    assert settings.location == "postgresql://me:pw@db:5432/memory"
    assert settings.pool == (2, 20)
    assert settings.search_vector_weight == 0.25
    limits = settings.limits
    assert (limits.max_text_chars, limits.max_metadata_bytes, limits.max_metadata_depth) == (50, 100, 2)
    assert (limits.max_results, limits.max_batch) == (7, 9)
    assert parse_settings(["--pg-pool-min", "30", "--pg-pool-max", "20"], {}).pool == (20, 20)


def test_openai_api_key_falls_back_to_the_usual_variable() -> None:
    assert parse_settings([], {"OPENAI_API_KEY": "sk-usual"}).openai_api_key == "sk-usual"
    both = {"OPENAI_API_KEY": "sk-usual", "MEMORY_MCP_OPENAI_API_KEY": "sk-ours"}
    assert parse_settings([], both).openai_api_key == "sk-ours"


def test_flags_win_over_env_vars() -> None:
    settings = parse_settings(["--db", "/a.db", "--embed-dim", "64", "--reembed"], {"MEMORY_MCP_DB": "/b.db"})
    assert (settings.db, settings.embed_dim, settings.reembed) == ("/a.db", 64, True)


@pytest.mark.parametrize(
    ("argv", "env", "source"),
    [
        pytest.param([], {"MEMORY_MCP_EMBED_DIM": "lots"}, "MEMORY_MCP_EMBED_DIM", id="not-a-number"),
        pytest.param(["--max-results", "0"], {}, "--max-results", id="zero"),
        pytest.param([], {"MEMORY_MCP_REEMBED": "maybe"}, "MEMORY_MCP_REEMBED", id="not-a-bool"),
        pytest.param(["--log-level", "loud"], {}, "--log-level", id="unknown-level"),
        pytest.param(["--vector-weight", "1.5"], {}, "--vector-weight", id="weight-above-one"),
        pytest.param(["--embedder", "magic"], {}, "--embedder", id="unknown-embedder"),
        pytest.param(["--transport", "sse"], {}, "--transport", id="unknown-transport"),
        pytest.param(["--port", "70000"], {}, "--port", id="port-out-of-range"),
        pytest.param([], {"MEMORY_MCP_USER": "sam smith"}, "MEMORY_MCP_USER", id="user-with-a-space"),
        pytest.param(["--allowed-host", "http://x.example/"], {}, "--allowed-host", id="a-url-for-a-host"),
        pytest.param(["--trusted-proxy", "proxy.example"], {}, "--trusted-proxy", id="a-name-for-a-proxy"),
    ],
)
def test_bad_values_name_where_they_came_from(argv: list[str], env: dict[str, str], source: str) -> None:
    with pytest.raises(ConfigError, match=source):
        parse_settings(argv, env)
