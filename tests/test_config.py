"""Settings: flags beat env vars, env vars beat defaults, bad values name their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_mcp.config import OPTIONS, default_db_path, parse_settings
from memory_mcp.errors import ConfigError


def test_defaults_use_the_xdg_data_folder() -> None:
    settings = parse_settings([], {"HOME": "/home/ann"})
    assert Path(settings.db) == Path("/home/ann/.local/share/memory-mcp/memory.db")
    assert settings.embed_dim == 256
    assert settings.search_vector_weight == 0.1
    assert parse_settings(["--embedder", "openai"], {}).search_vector_weight == 0.3
    assert settings.reembed is False
    assert default_db_path({"XDG_DATA_HOME": "/data"}) == Path("/data/memory-mcp/memory.db")


def test_env_vars_fill_every_setting() -> None:
    env = {
        "MEMORY_MCP_DB": "/tmp/x.db",
        "MEMORY_MCP_EMBED_DIM": "256",
        "MEMORY_MCP_VECTOR_WEIGHT": "0.25",
        "MEMORY_MCP_REEMBED": "yes",
        "MEMORY_MCP_MAX_TEXT_CHARS": "50",
        "MEMORY_MCP_MAX_METADATA_BYTES": "100",
        "MEMORY_MCP_MAX_METADATA_DEPTH": "2",
        "MEMORY_MCP_MAX_RESULTS": "7",
        "MEMORY_MCP_MAX_BATCH": "9",
        "MEMORY_MCP_RESOURCE_LIMIT": "5",
        "MEMORY_MCP_LOG_LEVEL": "debug",
        "MEMORY_MCP_EMBEDDER": "sentence-transformers",
        "MEMORY_MCP_OPENAI_BASE_URL": "http://localhost:11434/v1",
        "MEMORY_MCP_OPENAI_MODEL": "nomic-embed-text",
        "MEMORY_MCP_OPENAI_API_KEY": "sk-x",
        "MEMORY_MCP_OPENAI_TIMEOUT": "5",
        "MEMORY_MCP_LOCAL_MODEL": "/models/mini",
        "MEMORY_MCP_TRANSPORT": "streamable-http",
        "MEMORY_MCP_HOST": "::1",
        "MEMORY_MCP_PORT": "9000",
        "MEMORY_MCP_TOKENS_FILE": "/etc/memory/tokens.json",
        "MEMORY_MCP_ALLOW_UNAUTHENTICATED": "no",
        "MEMORY_MCP_DATABASE_URL": "postgresql://me:pw@db:5432/memory",
        "MEMORY_MCP_PG_POOL_MIN": "2",
        "MEMORY_MCP_PG_POOL_MAX": "20",
    }
    settings = parse_settings([], env)
    assert settings.db == "/tmp/x.db"
    assert settings.location == "postgresql://me:pw@db:5432/memory"
    assert settings.pool == (2, 20)
    assert (settings.embed_dim, settings.reembed, settings.resource_limit, settings.log_level) == (
        256,
        True,
        5,
        "DEBUG",
    )
    limits = settings.limits
    assert (limits.max_text_chars, limits.max_metadata_bytes, limits.max_metadata_depth, limits.max_results) == (
        50,
        100,
        2,
        7,
    )
    assert {option.env for option in OPTIONS} == set(env)


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
    ],
)
def test_bad_values_name_where_they_came_from(argv: list[str], env: dict[str, str], source: str) -> None:
    with pytest.raises(ConfigError, match=source):
        parse_settings(argv, env)
