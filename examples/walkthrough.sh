#!/usr/bin/env bash
# A first session with the memory-mcp command line: store, find, correct, move and back up memories.
# Usage: examples/walkthrough.sh [FOLDER]   (FOLDER gets the databases; default: a new temporary folder)
# Runs `memory-mcp` from PATH, or the one named by $MEMORY_MCP.
set -euo pipefail

folder="${1:-$(mktemp -d)}"
mm="${MEMORY_MCP:-memory-mcp}"
export MEMORY_MCP_DB="$folder/memory.db"   # every command below uses this database
export MEMORY_MCP_USER=alice               # ... and this user, unless told --user

step() {  # show the command as you would type it, then run it
    printf '\n$'
    for arg in "$@"; do
        if [[ $arg == *[[:space:]\"{]* ]]; then printf " '%s'" "$arg"; else printf ' %s' "$arg"; fi
    done
    printf '\n'
    "$@"
}

step "$mm" add "I love hiking in the Swiss Alps"
step "$mm" add "Allergic to peanuts" --metadata '{"topic": "health"}'
step "$mm" add "Plays the cello on Sundays" --user bob
step "$mm" list
step "$mm" search "peanut allergy"

id="$("$mm" search "peanut allergy" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["results"][0]["id"])')"
step "$mm" edit "$id" --text "Allergic to peanuts and cashews"
step "$mm" history "$id"
step "$mm" users

step "$mm" export "$folder/alice.jsonl" --user alice --history
step "$mm" import "$folder/alice.jsonl" --db "$folder/copy.db"
step "$mm" import "$folder/alice.jsonl" --db "$folder/copy.db"   # again: nothing is added twice
step "$mm" backup "$folder/backup.db"
step "$mm" check --db "$folder/backup.db"
step "$mm" stats
