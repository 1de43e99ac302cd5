"""memory-mcp test suite."""
