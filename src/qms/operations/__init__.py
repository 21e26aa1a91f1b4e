"""The operations layer: one function per command (see docs/architecture.md).

Functions are imported lazily so a CLI call loads only the command it runs.
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

# function name -> module that defines it
_MODULES = {
    "init": "init", "create": "create", "read": "read", "checkout": "checkout",
    "checkin": "checkin", "status": "status", "route": "route", "assign": "assign",
    "review": "review", "approve": "approve", "reject": "reject", "withdraw": "withdraw",
    "release": "release", "revert": "revert", "close": "close", "cancel": "cancel",
    "fix": "fix", "history": "history", "comments": "comments", "inbox": "inbox",
    "workspace": "workspace", "unlock": "unlock", "interact": "interact",
    "qualify": "qualify",
    "namespace_add": "namespaces", "namespace_list": "namespaces",
    "documents": "browse", "document_versions": "browse", "trace": "browse",
    # capabilities of several modules are packages: the operation at the top or in a part
    "verify": "verify",
    "export": "export", "export_all": "export", "export_pdf": "export",
    "user_add": "identity.users", "user_group": "identity.users",
    "user_remove": "identity.users", "user_name": "identity.users",
    "user_list": "identity.users",
    "token_issue": "identity.tokens", "token_list": "identity.tokens",
    "token_revoke": "identity.tokens",
    "config_get": "identity.settings", "config_set": "identity.settings",
    "passkey_enroll": "identity.passkeys", "passkey_list": "identity.passkeys",
    "passkey_revoke": "identity.passkeys",
    "key_rotate": "identity.keys", "key_list": "identity.keys", "key_import": "identity.keys",
    # code under change control: a package (docs/code-control.md)
    "system_add": "code.systems", "system_list": "code.systems",
    "code_checkout": "code.area", "code_status": "code.area", "code_remove": "code.area",
    "code_install_hook": "code.hook", "code_receive": "code.push",
    "code_record": "code.record", "gate": "code.gate", "merge": "code.merge",
}

# commands the MCP server exposes (never init, user, namespace, token, config)
TOOLS = ("inbox", "workspace", "status", "read", "history", "comments", "create", "checkout",
         "checkin", "cancel", "route", "assign", "review", "approve", "reject", "withdraw",
         "release", "revert", "close", "fix", "unlock", "interact", "qualify", "verify",
         "code_checkout", "gate", "merge")

__all__ = [*_MODULES, "TOOLS"]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'qms.operations' has no attribute {name!r}")
    function = getattr(importlib.import_module(f"qms.operations.{module}"), name)
    # importing the submodule bound its name (e.g. ``init``) to the module; rebind it to the
    # function so ``from qms.operations import init`` and repeated ``ops.x`` get the function
    globals()[name] = function
    return function


class _Operations(types.ModuleType):
    """Importing a submodule (``route`` imports ``checkin``) rebinds the package attribute
    ``checkin`` to that module; always hand out the operation function instead."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name in _MODULES and isinstance(value, types.ModuleType):
            return getattr(value, name)
        return value


sys.modules[__name__].__class__ = _Operations
