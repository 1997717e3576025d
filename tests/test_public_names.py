"""Public names are what they say (issue 12, item 7).

For every subpackage of halign_widgets: after importing *all* of its submodules (which is when a
submodule attribute can shadow a lazily exported function), every name in ``__all__`` resolves to
a function, class or constant defined in halign_widgets — never to a module, unless the package's
docstring documents it as one (``:mod:`<package>.<name>```). ``__all__`` must be a literal list
so that tools (documentation builders, linters, IDEs) can read it without running the code.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "halign_widgets"


def _packages() -> list[str]:
    names = ["halign_widgets"]
    names += [m.name for m in pkgutil.walk_packages([str(PKG)], "halign_widgets.") if m.ispkg]
    return sorted(names)


def _all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(PKG)], "halign_widgets."))


PACKAGES = _packages()


@pytest.fixture(scope="module", autouse=True)
def import_everything() -> None:
    for name in _all_modules():
        importlib.import_module(name)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_the_object_it_documents(package: str) -> None:
    pkg = importlib.import_module(package)
    exported = getattr(pkg, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    assert len(set(exported)) == len(exported), f"{package}.__all__ lists a name twice"
    doc = pkg.__doc__ or ""
    for name in exported:
        obj = getattr(pkg, name)
        if isinstance(obj, types.ModuleType):
            assert f":mod:`{package}.{name}`" in doc, (
                f"{package}.{name} is the module {obj.__name__}, but __all__ promises a function/class; "
                "a submodule import shadowed the export")
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__module__.startswith("halign_widgets."), f"{package}.{name} comes from {obj.__module__}"
            assert obj.__name__ == name, f"{package}.{name} is {obj.__qualname__} from {obj.__module__}"


def test_explain_suny_is_the_function_and_its_module_keeps_its_names() -> None:
    import halign_widgets.explain as explain
    import halign_widgets.explain._suny as pkg
    from halign_widgets.explain import suny
    from halign_widgets.explain._suny.core import suny as implementation
    from halign_widgets.explain.suny import make_causes
    from halign_widgets.explain.suny import suny as suny_from_module

    assert inspect.isfunction(suny) and suny is implementation is suny_from_module is explain.suny
    assert isinstance(pkg, types.ModuleType) and pkg.make_causes is make_causes
    module = importlib.import_module("halign_widgets.explain.suny")
    assert isinstance(module, types.ModuleType) and set(module.__all__) == set(pkg.__all__)
    assert "suny" in explain.list_methods() and explain.suny is implementation  # the registry import too


def test_a_fresh_interpreter_that_imports_the_module_first_still_gets_the_function() -> None:
    code = ("from halign_widgets.explain.suny import make_causes\n"
            "import halign_widgets.explain.suny\n"
            "import halign_widgets.explain as e, inspect\n"
            "e.list_methods()\n"
            "print(inspect.isfunction(e.suny), e.suny.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["True", "halign_widgets.explain._suny.core"]


def _literal_all(path: Path) -> tuple[bool, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node,
                                                                                                ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            ok = isinstance(value, ast.List) and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                                      for e in value.elts)
            return ok, ast.unparse(value)[:80]
    return True, "(none)"


OWNED = [p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts]


@pytest.mark.parametrize("path", OWNED, ids=[str(p.relative_to(PKG)) for p in OWNED])
def test_all_is_a_literal_list_of_strings(path: Path) -> None:
    ok, text = _literal_all(path)
    assert ok, f"{path.relative_to(ROOT)}: __all__ = {text} is not a literal list of strings"



def test_every_lazy_app_is_listed_in_widgets_all() -> None:
    import halign_widgets.widgets as widgets

    assert sorted(widgets.__all__) == sorted(widgets._LAZY), "list each app of _LAZY in __all__ (and back)"


@pytest.mark.parametrize("package", ["halign_widgets.explain", "halign_widgets.explain.metrics",
                                     "halign_widgets.widgets"])
def test_a_name_a_package_does_not_export_is_an_attribute_error(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match=rf"module '{re.escape(package)}' has no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018 - the lookup is the test
