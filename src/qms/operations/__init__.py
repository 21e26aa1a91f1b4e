"""The operations layer: one function per command (see docs/architecture.md).

Functions are imported lazily so a CLI call loads only the command it runs.
"""

from __future__ import annotations

import importlib
from typing import Any

# function name -> module that defines it
_MODULES = {
    "init": "init", "create": "create", "read": "read", "checkout": "checkout",
    "checkin": "checkin", "status": "status", "route": "route", "assign": "assign",
    "review": "review", "approve": "approve", "reject": "reject", "withdraw": "withdraw",
    "release": "release", "revert": "revert", "close": "close", "cancel": "cancel",
    "fix": "fix", "history": "history", "comments": "comments", "inbox": "inbox",
    "workspace": "workspace", "unlock": "unlock", "interact": "interact",
    "user_add": "users", "user_list": "users",
    "namespace_add": "namespaces", "namespace_list": "namespaces",
}

# commands the MCP server exposes (never init, user, namespace)
TOOLS = ("inbox", "workspace", "status", "read", "history", "comments", "create", "checkout",
         "checkin", "cancel", "route", "assign", "review", "approve", "reject", "withdraw",
         "release", "revert", "close", "fix", "unlock", "interact")

__all__ = [*_MODULES, "TOOLS"]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'qms.operations' has no attribute {name!r}")
    return getattr(importlib.import_module(f"qms.operations.{module}"), name)
