"""The name we publish under is ours: pyproject, every install hint and the MCP registry's server.json agree on it."""

from __future__ import annotations

import json
import re
import tomllib

from memory_mcp.version import __version__

from .helpers import ROOT

DISTRIBUTION = "memory-mcp-engine"
"""`memory-mcp` on the package index is another project (an empty 0.1.0.dev1 of 2024): `pip install memory-mcp` would
install it. `memory-mcp-engine` had no project there on 2026-11-30 (asked by name with `pip index versions --pre`
and the index's JSON API, also spelled memorymcpengine / memory_mcp_engine); the command stays `memory-mcp`."""
HINT = re.compile(r"(?:pip|pipx|uv pip)\s+install\s+(?:-\S+\s+)*['\"]?([^\s'\"\[]+)")
"""What an install command installs: the first word after its options, without quotes or extras."""


def test_pyproject_names_the_distribution_and_its_extras_name_it_too() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"memory-mcp": "memory_mcp.cli:main"}
    own = [need for needs in project["optional-dependencies"].values() for need in needs if need.startswith("memory")]
    assert own, "the extras refer to each other"
    assert all(need.startswith(DISTRIBUTION + "[") for need in own), own  # never the other project's name


def test_every_install_hint_names_our_distribution_or_the_clone() -> None:
    files = [*sorted((ROOT / "memory_mcp").rglob("*.py")), ROOT / "README.md", *sorted((ROOT / "examples").iterdir())]
    hints = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        hints += [(path.name, name) for name in HINT.findall(text)]
    assert hints, "the hints were found"
    others = ("torch", "torch==2.13.0", "uv", "pipx", "mem0ai")  # what the docs install beside us, by name
    ours = [(where, name) for where, name in hints if name not in others]
    wrong = [(where, name) for where, name in ours if name != DISTRIBUTION and not name.startswith((".", "/"))]
    assert wrong == []


def test_server_json_describes_the_published_package() -> None:
    """The MCP registry's fields (server.schema.json 2025-12-11, as its documentation states them): a
    reverse-DNS name with one slash, a description of at most 100 characters, exact versions, a PyPI package
    with a stdio transport; and the README carries the `mcp-name` marker the registry checks for PyPI packages."""
    server = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    assert server["$schema"].endswith("/server.schema.json")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert 1 <= len(server["description"]) <= 100
    assert server["version"] == __version__
    [package] = server["packages"]
    assert (package["registryType"], package["identifier"], package["version"]) == ("pypi", DISTRIBUTION, __version__)
    assert package["transport"] == {"type": "stdio"}
    for variable in package["environmentVariables"]:
        assert set(variable) <= {"name", "description", "format", "isRequired", "isSecret", "default"}
        assert variable["name"].startswith("MEMORY_MCP_")
    assert f"mcp-name: {server['name']}" in (ROOT / "README.md").read_text(encoding="utf-8")
