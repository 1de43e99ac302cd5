"""`python -m memory_mcp`: the same as the `memory-mcp` command."""

from .cli import main

main()
