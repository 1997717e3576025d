"""Typed results and options (issue 14, item 5): ``@guarded`` methods say that they may return ``None``,
and the ``Literal`` option types list the same names as the checks that refuse the others.

A guarded app method shows an error inline and returns ``None`` instead of raising. The decorator's
type (``Callable[Concatenate[A, P], R | None]``) makes mypy treat every guarded call as possibly
``None``; the first test makes the declarations say so too, so that a reader of ``def run(self) -> X``
is not misled. ``Any`` counts (it includes ``None``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

ROOT = Path(__file__).resolve().parents[1]


def _guarded_methods() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted((ROOT / "halign_widgets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                    isinstance(d, ast.Name) and d.id == "guarded" for d in node.decorator_list):
                returns = ast.unparse(node.returns) if node.returns is not None else ""
                found.append((str(path.relative_to(ROOT)), node.lineno, node.name, returns))
    return found


def test_every_guarded_method_declares_that_it_may_return_none() -> None:
    methods = _guarded_methods()
    assert len(methods) > 20                                    # the apps' callbacks were found
    wrong = [f"{path}:{line} {name} -> {returns or '(no annotation)'}" for path, line, name, returns in methods
             if not ({"None", "Any"} & {part.strip() for part in returns.split("|")})]
    assert not wrong, "guarded methods return None on a shown error; declare `-> X | None`:\n" + "\n".join(wrong)


def test_the_option_literals_list_the_same_names_as_the_checks() -> None:
    from halign_widgets.causality.module import SETTINGS, Setting
    from halign_widgets.explain.cam.scorecam import SCORES, Score
    from halign_widgets.explain.suny import CAUSE_KINDS, CauseKind

    assert get_args(Setting) == SETTINGS
    assert get_args(Score) == SCORES
    assert get_args(CauseKind) == CAUSE_KINDS
