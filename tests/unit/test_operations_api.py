"""The operations package hands out functions, whatever was imported before."""

from __future__ import annotations

import importlib
import inspect

import qms.operations as ops


def test_every_operation_is_a_function_even_after_submodule_imports():
    # route imports checkin, assign imports route, cancel imports close: importing a
    # submodule binds the package attribute to the module; callers must still get functions
    for module in set(ops._MODULES.values()):
        importlib.import_module(f"qms.operations.{module}")
    for name in ops._MODULES:
        fn = getattr(ops, name)
        assert inspect.isfunction(fn), f"qms.operations.{name} is {fn!r}"
        assert fn.__name__ == name
    from qms.operations import checkin, close, route  # noqa: F401  (the from-import path)

    assert inspect.isfunction(checkin) and inspect.isfunction(route)


def test_tools_are_operations():
    assert set(ops.TOOLS) <= set(ops._MODULES)
    assert not {"init", "user_add", "user_list", "namespace_add"} & set(ops.TOOLS)


def test_signatures_follow_the_contract():
    for name in ops._MODULES:
        if name == "init":
            continue
        params = list(inspect.signature(getattr(ops, name)).parameters.values())
        assert [p.name for p in params[:2]] == ["project", "user"], name
        assert all(p.kind is p.KEYWORD_ONLY for p in params[2:]), name
