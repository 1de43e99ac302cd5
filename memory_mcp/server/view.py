"""The memory view as an MCP App: a `ui://` page that hosts rendering MCP Apps show with search and list results."""

from __future__ import annotations

from importlib import resources
from typing import Final

from mcp.server.apps import Apps, ResourceCsp

VIEW_URI: Final = "ui://memory/view"
"""The view's resource; `search_memory` and `list_memories` name it in `_meta.ui.resourceUri`."""
VIEW_META: Final = {"ui": {"resourceUri": VIEW_URI}}


def memory_view() -> Apps:
    """The MCP Apps extension with the view (one HTML document, its script and styles inline, nothing fetched)."""
    apps = Apps()
    apps.add_html_resource(
        VIEW_URI,
        resources.files(__package__).joinpath("web", "view.html").read_text(encoding="utf-8"),
        name="memory-view",
        title="Memories",
        description="The results of search_memory and list_memories as a list you can search and page.",
        prefers_border=True,
        csp=ResourceCsp(
            connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[]
        ),  # no other origin: the page fetches nothing and connects nowhere (its own CSP says so too)
    )
    return apps
