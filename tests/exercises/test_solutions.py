"""The exercises' solutions run and hold, and every one belongs to exactly one chapter.

Each file ``book/exercises/<chapter>_<label>.py`` is the code of the solution of exercise
``<label>`` of ``book/<part>/<chapter>.md``, shown there by a ``{literalinclude}`` (so the
chapter's notebook never runs it). Run as a script it computes the answer and raises
``AssertionError`` when the solution's claim does not hold; here each is run in its own
interpreter, as a reader would run it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from memopt import book

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
EXERCISES = BOOK / "exercises"
SOLUTIONS = sorted(EXERCISES.glob("*.py"))

_EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n(?::[a-z]+:[^\n]*\n)*?:label: *(\S+)", re.M)
_SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\} *(\S+)", re.M)
_INCLUDE = re.compile(r"^`{3,}\{literalinclude\} *(\S+)", re.M)


def chapter_exercises(md: Path) -> tuple[list[str], list[str], list[Path]]:
    """The labels of a chapter's exercises, the exercises its solutions answer, and the files
    its literalincludes show (resolved against the chapter's folder)."""
    text = md.read_text()
    return ([m.group(2) for m in _EXERCISE.finditer(text)],
            [m.group(2) for m in _SOLUTION.finditer(text)],
            [(md.parent / m.group(1)).resolve() for m in _INCLUDE.finditer(text)])


def test_there_are_solutions():
    assert SOLUTIONS, f"no solution files in {EXERCISES}"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_runs_and_its_claim_holds(solution: Path):
    environment = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(solution)], capture_output=True, text=True,
                          cwd=ROOT, env=environment, timeout=600)
    assert done.returncode == 0, (
        f"{solution.relative_to(ROOT)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    assert done.stdout.strip(), f"{solution.relative_to(ROOT)} printed no measured values"


def test_every_solution_file_is_shown_by_exactly_one_chapter_under_its_own_name():
    shown: dict[Path, list[str]] = {path.resolve(): [] for path in SOLUTIONS}
    for md in book.notebook_sources(BOOK):
        _, answered, includes = chapter_exercises(md)
        for path in includes:
            if path.parent == EXERCISES.resolve():
                shown.setdefault(path, []).append(md.relative_to(ROOT).as_posix())
                assert path.exists(), f"{md.relative_to(ROOT)} shows {path.name}, which does not exist"
                assert any(path.stem == f"{md.stem}_{label}" for label in answered), (
                    f"{md.relative_to(ROOT)} shows {path.name}, which is not named <chapter>_<label> "
                    f"after one of its solutions {answered}")
    wrong = {path.name: chapters for path, chapters in shown.items() if len(chapters) != 1}
    assert wrong == {}, f"solution files not shown by exactly one chapter: {wrong}"


@pytest.mark.parametrize("md", book.notebook_sources(BOOK), ids=lambda p: p.stem)
def test_every_chapter_has_two_exercises_with_solutions(md: Path):
    labels, answered, _ = chapter_exercises(md)
    assert len(labels) >= 2, f"{md.relative_to(ROOT)} has {len(labels)} exercises, fewer than 2"
    assert len(set(labels)) == len(labels), f"{md.relative_to(ROOT)}: repeated labels {labels}"
    assert sorted(answered) == sorted(labels), (
        f"{md.relative_to(ROOT)}: exercises {labels} and solutions {answered} do not match one to one")
    for label in labels:
        assert (EXERCISES / f"{md.stem}_{label}.py").exists(), (
            f"{md.relative_to(ROOT)}: exercise {label} has no solution file {md.stem}_{label}.py")
