"""The memory view as an MCP App: what a host that renders MCP Apps is offered, and the view itself in a real
headless Chromium inside a stand-in host page that speaks the Apps protocol (postMessage JSON-RPC) and passes the
view's tool calls to the server through the MCP SDK's client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server
from memory_mcp.server.view import VIEW_URI

from ..helpers.browser import BROWSER, Browser, needs_browser, shots

HOST = """
<!doctype html><html><body><h1>A host</h1><iframe id="app" style="width:700px;height:600px"></iframe>
<script>
window.fromApp = []; window.calls = [];
const frame = document.getElementById("app");
window.addEventListener("message", (event) => {
  if (event.source !== frame.contentWindow) return;
  const message = event.data;
  window.fromApp.push(message);
  if (message.method === "ui/initialize") {
    reply(message.id, {protocolVersion: message.params.protocolVersion, hostInfo: {name: "stand-in", version: "1"},
                       hostCapabilities: {serverTools: {}}, hostContext: {theme: "light"}});
  } else if (message.method === "tools/call") {
    window.calls.push(message);
  }
});
window.reply = (id, result) => frame.contentWindow.postMessage({jsonrpc: "2.0", id, result}, "*");
window.notify = (method, params) => frame.contentWindow.postMessage({jsonrpc: "2.0", method, params}, "*");
window.load = (html) => { frame.srcdoc = html; };
</script></body></html>
"""


@pytest.fixture
def server(engine: MemoryEngine) -> MCPServer:
    return build_server(engine, tools="core")


async def test_search_and_list_name_the_view_and_the_view_is_served(server: MCPServer) -> None:
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        for name in ("search_memory", "list_memories"):
            assert tools[name].meta == {"ui": {"resourceUri": VIEW_URI}}
        assert tools["add_memory"].meta is None
        read = await client.read_resource(VIEW_URI)
        [content] = read.contents
        assert content.mime_type == "text/html;profile=mcp-app"
        html = getattr(content, "text", "")
        assert "ui/initialize" in html
        assert "http://" not in html
        assert "https://" not in html  # nothing fetched from anywhere
        # A host without MCP Apps gets the same text result as always.
        await client.call_tool("add_memory", {"user_id": "u", "text": "Ann bakes sourdough"})
        found = await client.call_tool("search_memory", {"user_id": "u", "query": "sourdough"})
        assert "Ann bakes sourdough" in found.content[0].text  # type: ignore[union-attr]


def _pass_calls(browser: Browser) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = browser.run("window.calls.splice(0)")
    return calls


@needs_browser
async def test_the_view_shows_a_result_searches_and_pages_through_the_host(server: MCPServer, tmp_path: Path) -> None:
    assert BROWSER is not None
    browser = Browser(BROWSER, tmp_path / "profile")
    try:
        async with Client(server) as client:
            for text, topic in [("Ann bakes sourdough", "food"), ("Ann runs on Sundays", "sport")] + [
                (f"Ann note {i}", "misc") for i in range(12)
            ]:
                await client.call_tool("add_memory", {"user_id": "ann", "text": text, "metadata": {"topic": topic}})
            html = getattr((await client.read_resource(VIEW_URI)).contents[0], "text", "")
            browser.open("about:blank")
            browser.run(f"document.open(); document.write({json.dumps(HOST)}); document.close(); true")
            browser.run(f"window.load({json.dumps(html)}); true")
            browser.wait("window.fromApp.some(m => m.method === 'ui/notifications/initialized')")
            assert browser.run("window.fromApp[0].method") == "ui/initialize"

            view = "document.getElementById('app').contentDocument"
            found = await client.call_tool("search_memory", {"user_id": "ann", "query": "bread baking"})
            result = found.model_dump(by_alias=True, mode="json", exclude_none=True)
            browser.run(f"window.notify('ui/notifications/tool-result', {json.dumps(result)}); true")
            browser.wait(f"{view}.querySelector('#memories .text')?.textContent === 'Ann bakes sourdough'")
            assert browser.run(f"{view}.querySelector('#memories .score').textContent").startswith("0.")
            browser.screenshot(shots(tmp_path) / "view-search.png")

            # Typing in the view calls search_memory through the host; the host answers with the server's result.
            browser.run(f"{view}.getElementById('query').focus()")
            browser.send("Input.insertText", {"text": "Sunday run"}, session=True)
            [call] = browser.wait("window.calls.length === 1 && window.calls")
            assert call["method"] == "tools/call"
            assert call["params"] == {"name": "search_memory", "arguments": {"user_id": "ann", "query": "Sunday run"}}
            _pass_calls(browser)
            answer = await client.call_tool(call["params"]["name"], call["params"]["arguments"])
            browser.run(
                f"window.reply({call['id']}, {json.dumps(answer.model_dump(by_alias=True, mode='json'))}); true"
            )
            browser.wait(f"{view}.querySelector('#memories .text')?.textContent === 'Ann runs on Sundays'")

            # A list result pages with list_memories and its cursor.
            listed = await client.call_tool("list_memories", {"user_id": "ann", "limit": 10})
            payload = json.dumps(listed.model_dump(by_alias=True, mode="json"))
            browser.run(f"window.notify('ui/notifications/tool-result', {payload}); true")
            browser.wait(f"{view}.querySelectorAll('#memories li').length === 10")
            browser.run(f"{view}.getElementById('more').click()")
            [page] = browser.wait("window.calls.length === 1 && window.calls")
            assert page["params"]["name"] == "list_memories"
            assert page["params"]["arguments"]["cursor"]
            _pass_calls(browser)
            rest = await client.call_tool("list_memories", page["params"]["arguments"])
            browser.run(f"window.reply({page['id']}, {json.dumps(rest.model_dump(by_alias=True, mode='json'))}); true")
            browser.wait(f"{view}.querySelectorAll('#memories li').length === 14")
            assert browser.run(f"{view}.getElementById('more').hidden") is True
    finally:
        browser.close()
