// The memories page: plain JavaScript over the REST API (/api/v1), signed in with OAuth (PKCE) when the server asks.
"use strict";

const CLIENT_ID = "memory-mcp-web";
const body = document.body;
const mode = body.dataset.auth; // "oauth", "token" or "none"
const $ = (id) => document.getElementById(id);
let user = body.dataset.user || sessionStorage.getItem("memory-user") || "";
let cursor = null;
let searching = "";

function say(text, undo) {
  const status = $("status");
  status.textContent = text;
  if (undo) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Undo";
    button.addEventListener("click", undo);
    status.append(" ", button);
    button.focus();
  }
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function signIn() {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(48)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("memory-pkce", JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code", client_id: CLIENT_ID, redirect_uri: location.origin + "/", code_challenge: challenge,
    code_challenge_method: "S256", state, scope: "memory", resource: body.dataset.resource,
  });
  location.assign("/authorize?" + query);
}

async function tokenRequest(form) {
  const answer = await fetch("/token", { method: "POST", body: new URLSearchParams(form) });
  if (!answer.ok) return false;
  const tokens = await answer.json();
  sessionStorage.setItem("memory-access", tokens.access_token);
  if (tokens.refresh_token) sessionStorage.setItem("memory-refresh", tokens.refresh_token);
  return true;
}

async function finishSignIn() {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return;
  history.replaceState(null, "", "/");
  const pending = JSON.parse(sessionStorage.getItem("memory-pkce") || "null");
  sessionStorage.removeItem("memory-pkce");
  if (query.has("error")) return say("Sign-in was cancelled.");
  if (!pending || pending.state !== query.get("state")) return say("That sign-in did not start here; sign in again.");
  const ok = await tokenRequest({
    grant_type: "authorization_code", code: query.get("code"), redirect_uri: location.origin + "/",
    client_id: CLIENT_ID, code_verifier: pending.verifier,
  });
  if (!ok) say("Sign-in failed; try again.");
}

async function refresh() {
  const token = sessionStorage.getItem("memory-refresh");
  if (!token) return false;
  sessionStorage.removeItem("memory-refresh");
  return tokenRequest({ grant_type: "refresh_token", refresh_token: token, client_id: CLIENT_ID });
}

async function api(method, path, payload, retried) {
  const headers = { "content-type": "application/json" };
  const token = sessionStorage.getItem("memory-access");
  if (token) headers.authorization = "Bearer " + token;
  let url = "/api/v1" + path;
  if (mode === "none" && user) url += (url.includes("?") ? "&" : "?") + "user_id=" + encodeURIComponent(user);
  const answer = await fetch(url, { method, headers, body: payload === undefined ? undefined : JSON.stringify(payload) });
  if (answer.status === 401 && mode !== "none") {
    if (!retried && mode === "oauth" && (await refresh())) return api(method, path, payload, true);
    sessionStorage.removeItem("memory-access");
    show(false);
    throw new Error("Signed out");
  }
  const data = await answer.json();
  if (!answer.ok) {
    say(data.detail || "The server refused that.");
    throw new Error(data.detail);
  }
  return data;
}

function when(iso) {
  return iso ? iso.slice(0, 16).replace("T", " ") : "";
}

function render(memory, score, match) {
  const item = $("memory-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = memory.id;
  item.querySelector(".text").textContent = memory.text;
  const topic = memory.metadata && memory.metadata.topic ? ` · topic: ${memory.metadata.topic}` : "";
  const meta = item.querySelector(".meta");
  meta.textContent = `added ${when(memory.created_at)}${topic}`;
  if (score !== undefined) {
    const badge = document.createElement("span");
    badge.className = "score";
    badge.textContent = `score ${score.toFixed(2)}${match && match !== "strong" ? ` (${match} match)` : ""} `;
    meta.prepend(badge);
  }
  const editor = item.querySelector(".editor");
  const area = editor.querySelector("textarea");
  area.setAttribute("aria-label", "New text of this memory");
  item.querySelector(".edit").addEventListener("click", () => {
    editor.hidden = !editor.hidden;
    area.value = memory.text;
    if (!editor.hidden) area.focus();
  });
  editor.querySelector(".cancel").addEventListener("click", () => { editor.hidden = true; });
  editor.addEventListener("submit", async (event) => {
    event.preventDefault();
    const keep = editor.querySelector(".keep").checked;
    await api("PATCH", `/memories/${memory.id}`, { text: area.value, keep_history: keep });
    say(keep ? "Saved; the old text is kept as history." : "Saved.");
    reload();
  });
  item.querySelector(".delete").addEventListener("click", async () => {
    await api("DELETE", `/memories/${memory.id}`);
    item.remove();
    say(`Deleted “${memory.text}”.`, async () => {
      await api("POST", "/memories", { text: memory.text, metadata: memory.metadata, entities: memory.entities || [] });
      say("Restored.");
      reload();
    });
    charts();
  });
  item.querySelector(".history").addEventListener("click", async () => {
    const list = item.querySelector(".changes");
    list.hidden = !list.hidden;
    if (list.hidden) return;
    const found = await api("GET", `/memories/${memory.id}/history`);
    list.replaceChildren(...found.history.map((entry) => {
      const line = document.createElement("li");
      const text = entry.event === "UPDATE" ? `“${entry.old_text}” → “${entry.new_text}”` : (entry.new_text || entry.old_text || "");
      line.textContent = `${when(entry.created_at)} ${entry.event}: ${text}`;
      return line;
    }));
  });
  return item;
}

async function page(more) {
  const query = new URLSearchParams({ limit: "20" });
  if (more && cursor) query.set("cursor", cursor);
  const found = await api("GET", "/memories?" + query);
  const items = found.memories.map((memory) => render(memory));
  if (more) $("memories").append(...items); else $("memories").replaceChildren(...items);
  cursor = found.next_cursor;
  $("more").hidden = !cursor;
  $("list-title").textContent = `Newest first (${found.total} in all)`;
}

async function search(text) {
  searching = text;
  if (!text) return page(false);
  const found = await api("POST", "/search", { query: text, limit: 20 });
  if (searching !== text) return; // a newer query is on its way
  $("memories").replaceChildren(...found.results.map((hit) => render(hit, hit.score, hit.match)));
  $("more").hidden = true;
  $("list-title").textContent = `Best matches for “${text}” (${found.results.length})`;
  if (!found.results.length) say(found.note || "Nothing found.");
}

function bars(target, groups) {
  const most = Math.max(1, ...groups.map((group) => group.count));
  $(target).replaceChildren(...groups.map((group) => {
    const row = document.createElement("div");
    row.className = "bar";
    const label = document.createElement("span");
    label.textContent = group.value;
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${(group.count / most) * 20}rem`;
    fill.setAttribute("aria-hidden", "true");
    const count = document.createElement("span");
    count.textContent = String(group.count);
    row.append(label, fill, count);
    return row;
  }));
  if (!groups.length) $(target).textContent = "Nothing yet.";
}

async function charts() {
  const months = await api("GET", "/stats?group_by=month&limit=24");
  bars("by-month", months.groups);
  const topics = await api("GET", "/stats?group_by=topic&limit=12");
  bars("by-topic", topics.groups);
}

function reload() {
  return Promise.all([search($("search").value.trim()), charts()]);
}

function show(ready) {
  $("app").hidden = !ready;
  $("signin").hidden = ready;
  $("signout").hidden = !ready || mode === "none";
  $("signin-button").hidden = mode !== "oauth";
  $("token-form").hidden = mode === "oauth";
  if (mode === "none") document.querySelector("label[for=token]").textContent = "Whose memories? (user id)";
  $("who").textContent = ready && mode === "none" ? `Memories of ${user}` : (ready ? "Signed in" : "");
}

async function start() {
  $("signin-button").addEventListener("click", signIn);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (mode === "none") { user = $("token").value.trim(); sessionStorage.setItem("memory-user", user); }
    else sessionStorage.setItem("memory-access", $("token").value.trim());
    start_app();
  });
  $("signout").addEventListener("click", async () => {
    const token = sessionStorage.getItem("memory-access");
    if (mode === "oauth" && token) {
      await fetch("/revoke", { method: "POST", body: new URLSearchParams({ token, client_id: CLIENT_ID, client_secret: "" }) });
    }
    sessionStorage.clear();
    show(false);
    say("Signed out.");
  });
  $("more").addEventListener("click", () => page(true));
  let timer = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search($("search").value.trim()), 200);
  });
  $("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const topic = $("add-topic").value.trim();
    const added = await api("POST", "/memories", { text: $("add-text").value, metadata: topic ? { topic } : {} });
    say(added.event === "NOOP" ? "Already remembered." : "Remembered.");
    $("add-text").value = "";
    reload();
  });
  if (mode === "oauth") await finishSignIn();
  start_app();
}

function start_app() {
  const ready = mode === "none" ? Boolean(user) : Boolean(sessionStorage.getItem("memory-access"));
  show(ready);
  if (!ready) return;
  reload().catch(() => {});
  if (mode !== "none") api("GET", "/stats").then((stats) => { $("who").textContent = `Signed in as ${stats.user_id}`; }).catch(() => {});
}

start();
