"""Exercises in a chapter, and the student and teacher copies made from it.

DESIGN.md, "Exercises": an exercise is three consecutive cells —

1. a markdown cell tagged ``exercise`` (the question, what to measure, which call helps);
2. one (or more) cells tagged ``solution``: the teacher's answer, assigning the result to a named
   variable (a code cell; a markdown cell tagged ``solution`` holds a written answer);
3. a code cell tagged ``check``: one call of a check from :mod:`halign_widgets.course`.

:func:`exercises` finds and validates the triples; :func:`student_copy` replaces every solution by
a stub — ``name = None  # your code here`` for each answer variable the check reads — and removes
everything that could still carry the solution: its outputs, execution count, attachments and cell
metadata other than the tags, every other cell's outputs (a saved run would show the checks'
passes and values; only ``nbval-check-output`` reference outputs stay), and the notebook metadata
other than the kernel and language (widget state, papermill records). :func:`teacher_copy` keeps
everything (outputs cleaned as for a commit). :func:`leaked_lines` is the search the tests run:
which lines of the solutions still occur anywhere in a student copy's JSON.

Used by ``tools/nb_tool.py student`` (``make student``) and ``course`` (``make course``).
"""

from __future__ import annotations

import ast
import copy
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EXERCISE_TAG = "exercise"
SOLUTION_TAG = "solution"
CHECK_TAG = "check"
STUB_COMMENT = "# your code here"
MARKDOWN_STUB = "*Your answer here.*"
#: notebook metadata a student copy keeps (everything else may hold run records or widget state)
KEPT_NB_META = ("kernelspec", "language_info")
#: solution lines shorter than this are not searched for (``)``, ``else:``, ``plt.show()`` …)
MIN_LEAK_CHARS = 12
REFERENCE_TAG = "nbval-check-output"  # nb_tool.CHECK_TAG: cells whose stored output nbval compares


def tags(cell: Any) -> list[str]:
    """The tags of a cell (empty list when none)."""
    return list(cell.get("metadata", {}).get("tags", []))


@dataclass(frozen=True)
class Exercise:
    """One exercise: cell indices of its question, solution cell(s) and check, and the answer names."""

    question: int
    solutions: tuple[int, ...]
    check: int
    names: tuple[str, ...]


class ExerciseFormatError(ValueError):
    """The exercise cells of a notebook do not follow DESIGN.md's format (the message says where)."""


def assigned_names(source: str) -> list[str]:
    """Names a code cell assigns at its top level (in order; inside functions and classes not counted)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[str] = []

    def bind(target: ast.AST) -> None:
        # only names that are (re)bound: `x = …`, `a, *b = …`; not `model.attr = …` or `d[k] = …`
        if isinstance(target, ast.Name):
            if target.id not in found:
                found.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                bind(element)
        elif isinstance(target, ast.Starred):
            bind(target.value)

    def visit(nodes: Iterable[ast.stmt]) -> None:
        for node in nodes:
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets = [node.target]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
            for target in targets:
                bind(target)
            for field in ("body", "orelse", "finalbody"):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(getattr(node, field, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                visit(handler.body)

    visit(tree.body)
    return found


def used_names(source: str) -> set[str]:
    """Every name a code cell reads."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def exercises(nb: Any) -> list[Exercise]:
    """The exercises of ``nb`` in order; :class:`ExerciseFormatError` when a triple is malformed.

    Rules: an ``exercise`` markdown cell is followed by at least one ``solution`` cell and then one
    ``check`` code cell; no ``solution`` or ``check`` cell stands outside such a triple; the check
    reads at least one name its solution assigns (the answer), unless the solution is markdown only.
    """
    cells = nb.cells
    found: list[Exercise] = []
    i = 0
    while i < len(cells):
        cell_tags = tags(cells[i])
        if SOLUTION_TAG in cell_tags or CHECK_TAG in cell_tags:
            role = SOLUTION_TAG if SOLUTION_TAG in cell_tags else CHECK_TAG
            raise ExerciseFormatError(f"cell {i} is tagged {role!r} but does not follow an 'exercise' markdown cell "
                                      "(exercise → solution → check)")
        if EXERCISE_TAG not in cell_tags:
            i += 1
            continue
        if cells[i].cell_type != "markdown":
            raise ExerciseFormatError(f"cell {i} is tagged 'exercise' but is a {cells[i].cell_type} cell; the "
                                      "question is a markdown cell")
        j = i + 1
        solutions = []
        while j < len(cells) and SOLUTION_TAG in tags(cells[j]):
            solutions.append(j)
            j += 1
        if not solutions:
            raise ExerciseFormatError(f"the exercise in cell {i} is not followed by a cell tagged 'solution'")
        if j >= len(cells) or CHECK_TAG not in tags(cells[j]) or cells[j].cell_type != "code":
            raise ExerciseFormatError(f"the exercise in cell {i}: after its solution (cell {solutions[-1]}) comes no "
                                      "code cell tagged 'check'")
        code = "\n".join(cells[k].source for k in solutions if cells[k].cell_type == "code")
        assigned = assigned_names(code)
        read = used_names(cells[j].source)
        names = tuple(n for n in assigned if n in read)
        if code.strip() and not names:
            raise ExerciseFormatError(f"the check in cell {j} reads none of the names its solution assigns "
                                      f"({assigned}); pass the answer variable to the check")
        found.append(Exercise(i, tuple(solutions), j, names))
        i = j + 1
    return found


def stub(names: Iterable[str]) -> str:
    """The source a student sees instead of a solution: each answer name set to ``None``."""
    lines = [f"{name} = None  {STUB_COMMENT}" for name in names]
    return "\n".join(lines) if lines else STUB_COMMENT


def _clear_outputs(cell: Any) -> None:
    if cell.cell_type == "code":
        cell["outputs"] = []
        cell["execution_count"] = None


def teacher_copy(nb: Any) -> Any:
    """Everything — questions, solutions, checks — with run records removed (as committed)."""
    new = copy.deepcopy(nb)
    for key in ("papermill", "widgets"):
        new.metadata.pop(key, None)
    for cell in new.cells:
        for key in ("execution", "papermill"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code" and REFERENCE_TAG not in tags(cell):
            _clear_outputs(cell)
    return new


def student_copy(nb: Any) -> Any:
    """The copy handed to students: every solution replaced by a stub, nothing of it left anywhere.

    Raises :class:`ExerciseFormatError` when the exercise cells are malformed (a copy of a broken
    notebook could leak a solution that sits outside a triple).
    """
    found = exercises(nb)
    new = copy.deepcopy(nb)
    new["metadata"] = {k: v for k, v in new.metadata.items() if k in KEPT_NB_META}
    solution_cells = {k: ex for ex in found for k in ex.solutions}
    first_code = {ex.solutions[[nb.cells[k].cell_type for k in ex.solutions].index("code")]
                  for ex in found if any(nb.cells[k].cell_type == "code" for k in ex.solutions)}
    for index, cell in enumerate(new.cells):
        for key in ("execution", "papermill"):
            cell.metadata.pop(key, None)
        if index in solution_cells:
            cell["metadata"] = {"tags": tags(cell)}
            cell.pop("attachments", None)
            if cell.cell_type == "code":
                cell["source"] = stub(solution_cells[index].names) if index in first_code else STUB_COMMENT
                _clear_outputs(cell)
            else:
                cell["source"] = MARKDOWN_STUB
        elif cell.cell_type == "code" and (REFERENCE_TAG not in tags(cell) or CHECK_TAG in tags(cell)):
            _clear_outputs(cell)
    return new


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def solution_lines(nb: Any, min_chars: int = MIN_LEAK_CHARS) -> list[str]:
    """The lines of ``nb``'s solutions worth searching for: long enough, and not also (as a line or
    inside a sentence) in a cell the student gets anyway."""
    found = exercises(nb)
    solution_cells = {k for ex in found for k in ex.solutions}
    # text the student sees anyway: the questions (which name the calls that help), the checks, the rest
    elsewhere = "\n".join(cell.source for index, cell in enumerate(nb.cells) if index not in solution_cells)
    lines = []
    for index in sorted(solution_cells):
        for line in nb.cells[index].source.splitlines():
            text = line.strip()
            if len(text) >= min_chars and text not in elsewhere and text not in lines:
                lines.append(text)
    return lines


def leaked_lines(student_text: str, lines: Iterable[str]) -> list[str]:
    """The ``lines`` that occur in a student copy: its notebook JSON (in any string of it — sources,
    outputs, metadata, attachments — or in the raw text) or its HTML export (raw and unescaped)."""
    haystack = [student_text, html.unescape(student_text)]
    try:
        haystack += list(_strings(json.loads(student_text)))
    except ValueError:
        pass  # not JSON: an HTML handout
    return [line for line in lines if any(line in s for s in haystack)]
