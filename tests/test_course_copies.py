"""Exercises in the chapters, and the student and teacher copies (tools/course_copies.py, nb_tool).

- every chapter's exercise cells follow DESIGN.md's format (exercise → solution → check; a chapter
  with exercises has at least three; each check is one call of a ``halign_widgets.course`` check
  whose name and answer variable agree with the solution);
- the stripping leaves no solution text: every solution line (that the student does not see
  anyway in a question or another cell) is searched for in every string of each student copy's JSON;
  a toy notebook saved *after a run* (outputs, execution counts, attachments, metadata, widget
  state) keeps nothing of its solutions;
- ``make student`` (``nb_tool student``) writes both copies of every chapter; ``nb_tool course``
  executes both copies of a toy chapter and exports them;
- notebook tier, parametrized over every chapter with exercises (new ones join automatically):
  the teacher copy's checks all pass under papermill (smoke parameters; the teacher copy is the
  chapter, whose smoke run tests/conftest.py shares with test_notebooks.py), and the student copy
  executes without an error with every check saying "not yet".
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import course_copies as cc
import nb_tool

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _has_exercises(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any(cc.EXERCISE_TAG in cc.tags(c) for c in nb.cells)


EXERCISE_CHAPTERS = [p for p in NOTEBOOKS if _has_exercises(p)]
EX_IDS = [p.stem for p in EXERCISE_CHAPTERS]


def _check_lines(cell: Any) -> list[str]:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return [line for line in text.splitlines() if line.startswith(("✅ pass:", "⏳ not yet:"))]


# -- the format, in every chapter ---------------------------------------------------------------------
def test_every_chapter_has_exercises() -> None:
    missing = [p.name for p in NOTEBOOKS if p not in EXERCISE_CHAPTERS]
    assert not missing, f"every chapter has at least three exercises (issue 16); none in {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercise_cells_follow_the_format(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    found = cc.exercises(nb)        # raises ExerciseFormatError with the cell index when malformed
    if not found:
        return
    assert len(found) >= 3, f"{path.name}: {len(found)} exercise(s); a chapter with exercises has at least three"
    for ex in found:
        check = nb.cells[ex.check].source
        tree = ast.parse(check)
        imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module == "halign_widgets.course" for alias in node.names}
        calls = [node.value for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
        assert len(calls) == 1, f"{path.name} cell {ex.check}: a check cell makes one call of a check"
        call = calls[0]
        assert isinstance(call.func, ast.Name) and call.func.id in imported and call.func.id.startswith("check_"), (
            f"{path.name} cell {ex.check}: call a check imported from halign_widgets.course")
        name, answer = call.args[0], call.args[1]
        assert isinstance(name, ast.Constant) and isinstance(answer, ast.Name) and name.value == answer.id, (
            f"{path.name} cell {ex.check}: the check's first argument names its answer variable, check_…('x', x, …)")
        assert answer.id in ex.names, f"{path.name} cell {ex.check}: {answer.id!r} is not assigned by the solution"
        question = nb.cells[ex.question].source
        assert f"`{answer.id}`" in question, f"{path.name} cell {ex.question}: the question names `{answer.id}`"


@pytest.mark.parametrize("path", EXERCISE_CHAPTERS, ids=EX_IDS)
def test_student_copy_holds_no_solution_text(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    lines = cc.solution_lines(nb)
    assert lines, "nothing to search for: the solutions are all trivial lines"
    teacher = nbformat.writes(cc.teacher_copy(nb))
    assert cc.leaked_lines(teacher, lines) == lines, "the search must find every line in the teacher copy"
    student = cc.student_copy(nb)
    assert cc.leaked_lines(nbformat.writes(student), lines) == []
    for ex in cc.exercises(nb):
        stub = student.cells[ex.solutions[0]].source
        assert stub == "\n".join(f"{n} = None  # your code here" for n in ex.names)
    non_solution = [i for i in range(len(nb.cells)) if all(i not in ex.solutions for ex in cc.exercises(nb))]
    assert [student.cells[i].source for i in non_solution] == [nb.cells[i].source for i in non_solution]


# -- the copies on a toy notebook saved after a run ------------------------------------------------------
def _toy(saved_run: bool = True) -> Any:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"},
                                "widgets": {"state": {"answer": "secret_widget_value = 42"}},
                                "papermill": {"parameters": {"secret_param": "secret_solution_step()"}}})
    nb.cells = [
        new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
        new_markdown_cell("**Exercise.** Measure the square of 7 and store it in `answer`.",
                          metadata={"tags": ["exercise"]}),
        new_code_cell("helper_value = 7 * 7  # the teacher's trick\nanswer = helper_value",
                      metadata={"tags": ["solution"], "nbgrader": {"solution": "helper_value = 7 * 7"},
                                "jupyter": {"source_hidden": True}}),
        new_code_cell("from halign_widgets.course import check_value\n\ncheck_value('answer', answer, 49);",
                      metadata={"tags": ["check"]}),
        new_markdown_cell("**Exercise.** Why is it 49?", metadata={"tags": ["exercise"]}),
        new_markdown_cell("Because seven sevens make forty-nine, as the teacher knows.",
                          metadata={"tags": ["solution"]}),
        new_code_cell("from halign_widgets.course import check_true\n\ncheck_true('answer', answer, "
                      "lambda a: a > 40);", metadata={"tags": ["check"]}),
        new_code_cell("print('the chapter goes on')", metadata={"tags": ["nbval-check-output"]}),
    ]
    if saved_run:
        nb.cells[2].outputs = [new_output("stream", name="stdout", text="helper_value printed: 49\n"),
                               new_output("execute_result", data={"text/plain": "49 from the solution"},
                                          execution_count=3)]
        nb.cells[2].execution_count = 3
        nb.cells[3].outputs = [new_output("stream", name="stdout", text="✅ pass: answer — 49 (the lab measures 49)\n")]
        nb.cells[3].execution_count = 4
        nb.cells[5]["attachments"] = {"answer.png": {"image/png": "c2VjcmV0IGFuc3dlciBwaWN0dXJl"}}
        nb.cells[7].outputs = [new_output("stream", name="stdout", text="the chapter goes on\n")]
        nb.cells[7].execution_count = 5
    return nb


def test_student_copy_of_a_saved_run_keeps_nothing_of_the_solutions() -> None:
    nb = _toy()
    student = cc.student_copy(nb)
    text = nbformat.writes(student)
    for secret in ("helper_value", "teacher's trick", "49 from the solution", "the lab measures 49",
                   "secret_widget_value", "secret_solution_step", "forty-nine", "c2VjcmV0", "source_hidden"):
        assert secret not in text, secret
    assert student.cells[2].source == "answer = None  # your code here"
    assert student.cells[2].outputs == [] and student.cells[2].execution_count is None
    assert student.cells[2].metadata == {"tags": ["solution"]}
    assert student.cells[5].source == cc.MARKDOWN_STUB and "attachments" not in student.cells[5]
    assert student.cells[3].outputs == []                                 # a check's saved pass is gone
    assert student.cells[7].outputs[0]["text"] == "the chapter goes on\n"    # nbval reference output stays
    assert set(student.metadata) == {"kernelspec", "language_info"}
    nbformat.validate(student)
    assert cc.leaked_lines(text, cc.solution_lines(nb)) == []
    assert "helper_value = 7 * 7  # the teacher's trick" in cc.solution_lines(nb)


def test_teacher_copy_keeps_everything_but_run_records() -> None:
    nb = _toy()
    teacher = cc.teacher_copy(nb)
    assert [c.source for c in teacher.cells] == [c.source for c in nb.cells]
    assert teacher.cells[5]["attachments"] and "widgets" not in teacher.metadata
    assert teacher.cells[2].outputs == [] and teacher.cells[7].outputs


@pytest.mark.parametrize("broken, message", [
    (lambda cells: cells.pop(1), "does not follow an 'exercise'"),                 # solution without question
    (lambda cells: cells.pop(3), "comes no code cell tagged 'check'"),
    (lambda cells: cells.pop(2), "not followed by a cell tagged 'solution'"),
    (lambda cells: cells.__setitem__(3, new_code_cell("check_value('x', 1, 1)", metadata={"tags": ["check"]})),
     "reads none of the names"),
    (lambda cells: cells.__setitem__(1, new_code_cell("x = 1", metadata={"tags": ["exercise"]})), "markdown"),
])
def test_malformed_exercises_are_refused(broken: Any, message: str) -> None:
    nb = _toy(saved_run=False)
    broken(nb.cells)
    with pytest.raises(cc.ExerciseFormatError, match=message):
        cc.student_copy(nb)


def test_answer_names_are_the_names_a_solution_rebinds() -> None:
    source = ("import torch\nmodel.causality.direction = 'effects'\nd[0] = 1\na, (b, *c) = 1, (2, 3)\n"
              "with open('f') as fh:\n    inner = 1\nfor i in range(2):\n    total = i\n"
              "def helper():\n    hidden = 1\ntry:\n    t = 1\nfinally:\n    u = 2\nx += 1\n")
    assert cc.assigned_names(source) == ["a", "b", "c", "fh", "inner", "i", "total", "t", "u", "x"]
    assert cc.assigned_names("this is not python (") == []


def test_make_student_writes_both_copies_of_every_chapter(tmp_path: Path) -> None:
    assert nb_tool.main(["student", "--out", str(tmp_path)]) == 0
    for path in NOTEBOOKS:
        student, teacher = tmp_path / "student" / path.name, tmp_path / "teacher" / path.name
        assert student.exists() and teacher.exists()
        source = nbformat.read(path, as_version=4)
        assert [c.source for c in nbformat.read(teacher, as_version=4).cells] == [c.source for c in source.cells]
        lines = cc.solution_lines(source) if path in EXERCISE_CHAPTERS else []
        assert cc.leaked_lines(student.read_text(encoding="utf-8"), lines) == []


@pytest.mark.notebook
def test_course_executes_and_exports_both_copies(tmp_path: Path) -> None:
    toy = tmp_path / "toy.ipynb"
    nbformat.write(_toy(saved_run=False), toy)
    out = tmp_path / "handouts"
    assert nb_tool.course(out, [toy], smoke=True) == 0
    teacher_html = (out / "teacher" / "toy.html").read_text(encoding="utf-8")
    student_html = (out / "student" / "toy.html").read_text(encoding="utf-8")
    assert teacher_html.count("✅ pass:") == 2 and "⏳ not yet:" not in teacher_html
    assert student_html.count("⏳ not yet:") == 2 and "✅ pass:" not in student_html
    assert "helper_value" in teacher_html and "helper_value" not in student_html
    assert nb_tool.check_lines(nbformat.read(out / "student" / "toy.ipynb", as_version=4)) == (0, 2)
    # collecting: a filled-in student copy, executed by `nb_tool checks --run`, reports its passes
    filled = nbformat.read(out / "student" / "toy.ipynb", as_version=4)
    filled.cells[[i for i, c in enumerate(filled.cells) if "solution" in cc.tags(c)][0]].source = (
        "answer = 7 ** 2")
    nbformat.write(filled, tmp_path / "submitted.ipynb")
    assert nb_tool.check_report(tmp_path / "submitted.ipynb", run=True, smoke=True) == (2, 0)


# -- the chapters' copies under papermill ---------------------------------------------------------------------
@pytest.mark.notebook
@pytest.mark.parametrize("path", EXERCISE_CHAPTERS, ids=EX_IDS)
def test_teacher_copy_checks_all_pass(path: Path, smoke_run: Any) -> None:
    source = nbformat.read(path, as_version=4)
    teacher = cc.teacher_copy(source)
    assert [(c.cell_type, c.source) for c in teacher.cells] == [(c.cell_type, c.source) for c in source.cells], (
        "the teacher copy is the chapter itself, so the chapter's smoke run is the teacher copy's run")
    executed = smoke_run(path)
    checks = [c for c in executed.cells if cc.CHECK_TAG in cc.tags(c)]
    assert len(checks) == len(cc.exercises(source))
    for cell in checks:
        lines = _check_lines(cell)
        assert len(lines) == 1 and lines[0].startswith("✅ pass:"), f"{path.name}: {cell.source!r} printed {lines}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", EXERCISE_CHAPTERS, ids=EX_IDS)
def test_student_copy_runs_to_the_end_and_says_not_yet(path: Path, tmp_path: Path) -> None:
    source = nbformat.read(path, as_version=4)
    student_path = tmp_path / path.name
    nbformat.write(cc.student_copy(source), student_path)
    executed_path = tmp_path / f"executed-{path.name}"
    nb_tool.run_notebook(student_path, executed_path, smoke=True, cwd=tmp_path, timeout=600)   # raises on a cell error
    executed = nbformat.read(executed_path, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    checks = [c for c in executed.cells if cc.CHECK_TAG in cc.tags(c)]
    assert len(checks) == len(cc.exercises(source))
    for cell in checks:
        lines = _check_lines(cell)
        assert len(lines) == 1 and lines[0].startswith("⏳ not yet:") and "still None" in lines[0], lines
    assert cc.leaked_lines(executed_path.read_text(encoding="utf-8"), cc.solution_lines(source)) == []
