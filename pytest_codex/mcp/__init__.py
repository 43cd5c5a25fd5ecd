"""``codex-orchestrator mcp``: the exec runtime served to MCP clients (Codex, ...) over stdio.

Only :mod:`.server` imports the MCP SDK (the optional ``mcp`` extra); the rest (the server
session's run and runtime, the running commands, the approver, the tool's text) is plain
library code. Nothing is imported here, so ``import pytest_codex.mcp`` costs nothing.
"""
