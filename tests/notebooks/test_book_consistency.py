"""The committed book is consistent: every chapter's .ipynb holds exactly its .md's code and is
fully executed, the scorecard is what its generator writes, and the table of contents and the
configuration agree with the files. nbval (``pytest --nbval book``) then re-runs the notebooks."""

from pathlib import Path

import yaml

from memopt import book

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_the_book_has_notebook_chapters():
    assert BOOK / "stochastic" / "sgd.md" in book.notebook_sources(BOOK)


def test_every_ipynb_holds_its_md_code_fully_executed():
    assert book.pairing_problems(BOOK) == []


def test_scorecard_is_generated_from_the_stored_outputs():
    assert (BOOK / "scorecard.md").read_text() == book.scorecard_markdown(BOOK), (
        "book/scorecard.md is out of date: run `python -m memopt.book scorecard`")


def test_table_of_contents_lists_every_chapter_and_only_existing_files():
    listed = toc_files()
    for entry in listed:
        assert (ROOT / f"{entry}.md").exists(), entry
    for md in book.notebook_sources(BOOK):
        assert md.relative_to(ROOT).with_suffix("").as_posix() in listed, md


def test_configuration_keeps_the_paired_ipynb_out_of_sphinx():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "book/**/*.ipynb" in config["exclude_patterns"]
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True


def test_no_number_in_the_prose_is_typed():
    """Every number a run produces reaches the prose from the run (printed or glued); figures
    quoted from a paper and constants of the setup are listed in the chapter's front matter."""
    typed = {md.relative_to(ROOT).as_posix(): numbers for md in book.notebook_sources(BOOK)
             if (numbers := book.unproduced_prose_numbers(md))}
    assert typed == {}, f"numbers in the prose that no cell produces: {typed}"
