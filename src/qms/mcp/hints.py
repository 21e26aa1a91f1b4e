"""Next-step hints for MCP clients: the operations name the next step as a CLI command
(``qms --user claude checkin CR-001``); over MCP the same hint names the tool
(``qms_checkin(user="claude", doc_id="CR-001")``). Commands without a tool (token, user,
namespace, key, config) are left as they are: only the CLI has them.
"""

from __future__ import annotations

import re
from typing import Any

_HINT = re.compile(r'qms --user (?P<user>\S+) (?P<cmd>[a-z]+)'
                   r'(?P<args>(?: (?:"[^"\n]*"|[^\s"`),;]+))*)')
_TOKEN = re.compile(r'"([^"\n]*)"|(\S+)')
_FIRST = {"create": "doc_type"}  # the first argument of a command, when not doc_id
_CHOICES = {"--review": ("route_type", "review"), "--approval": ("route_type", "approval"),
            "--recommend": ("outcome", "recommend"),
            "--request-updates": ("outcome", "request-updates")}


def tool_call(match: re.Match, tools: frozenset[str]) -> str:
    """One CLI hint as the tool call it stands for (unchanged when there is no such tool)."""
    cmd, raw = match["cmd"], match["args"]
    trail = ""
    if raw.endswith(".") and not raw.endswith(".."):  # the end of a sentence
        raw, trail = raw[:-1], "."
    if f"qms_{cmd}" not in tools:
        return match[0]
    args: dict[str, Any] = {"user": match["user"]}
    tokens = [m[1] if m[1] is not None else m[2] for m in _TOKEN.finditer(raw)]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _CHOICES:
            key, value = _CHOICES[token]
            args[key] = value
        elif token.startswith("--"):
            key = token[2:].replace("-", "_")
            if i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                args[key] = tokens[i + 1]
                i += 1
            else:
                args[key] = True
        else:
            args.setdefault(_FIRST.get(cmd, "doc_id"), token)
        i += 1
    shown = ", ".join(f"{k}={'true' if v is True else _quote(v)}" for k, v in args.items())
    return f"qms_{cmd}({shown}){trail}"


def _quote(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


def for_mcp(value: Any, tools: frozenset[str]) -> Any:
    """``value`` (a text, or a result's lists and dicts of texts) with every CLI hint named
    as its MCP tool."""
    if isinstance(value, str):
        return _HINT.sub(lambda m: tool_call(m, tools), value) if "qms --user" in value else value
    if isinstance(value, list):
        return [for_mcp(v, tools) for v in value]
    if isinstance(value, dict):
        return {k: for_mcp(v, tools) for k, v in value.items()}
    return value
