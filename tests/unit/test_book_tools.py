"""The book's own tooling: pairing checks, execution, claim records, the scorecard."""

import json
import shutil
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupyter_cache import get_cache

from memopt import book

HEADER = textwrap.dedent("""\
    ---
    jupytext:
      formats: ipynb,md:myst
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3 (ipykernel)
      language: python
      name: python3
    ---
    """)


def chapter(directory: Path, name: str, title: str, cells: list[str]) -> Path:
    body = "".join(f"\n```{{code-cell}} ipython3\n{code}\n```\n" for code in cells)
    path = directory / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"\n# {title}\n" + body)
    return path


@pytest.fixture(scope="module")
def executed_book(tmp_path_factory):
    """A two-chapter book, executed once by the real kernel (a few seconds)."""
    root = tmp_path_factory.mktemp("book")
    chapter(root / "part", "one", "Chapter | one", [
        "from memopt import claims",
        "claims.check('x ≤ 1', 0.5, claims.at_most(1), source='eq. *1*', kind='reproduction', paper='x = 0.4')",
        "claims.check('sizes add up', 3, claims.between(3, 3), source='definition', kind='sanity')",
    ])
    chapter(root / "part", "two", "Chapter two", [
        "from memopt import claims\n"
        "claims.check('peak at n', 2.0, claims.at_most(1), source='fig. 2', not_reproduced='n too small',\n"
        "             kind='bound', post_hoc='the first run used n/2')",
    ])
    (root / "plain.md").write_text("# Not a notebook\n")
    book.execute(book.notebook_sources(root))
    return root


def test_notebook_sources_are_the_jupytext_pages(executed_book):
    assert [p.name for p in book.notebook_sources(executed_book)] == ["one.md", "two.md"]


def test_executed_book_has_no_pairing_problems(executed_book):
    assert book.pairing_problems(executed_book) == []


def test_claim_records_come_from_the_stored_outputs(executed_book):
    records = book.claim_records(executed_book / "part" / "one.ipynb")
    assert records[0] == {"claim": "x ≤ 1", "measured": "0.5", "expected": "≤ 1", "source": "eq. *1*",
                          "status": "pass", "kind": "reproduction", "paper": "x = 0.4",
                          "decided": "before the first run"}
    assert book.claim_records(executed_book / "part" / "two.ipynb")[0]["status"] == "not reproduced"


def test_scorecard_lists_every_claim(executed_book):
    text = book.scorecard_markdown(executed_book)
    assert ("**2 results (1 reproductions, 1 bounds): 1 pass, 1 not reproduced, 0 fail; 1 with a "
            "criterion set after a run. Besides them, 1 sanity checks.**") in text
    assert "| [Chapter \\| one](part/one.md) | 1 | 0 | 1 | 0 | 0 | 0 | 1 |" in text
    assert "| x ≤ 1 <br> *eq. \\*1\\** | reproduction | x = 0.4 | ≤ 1 | 0.5 | **pass** |" in text
    assert "| sizes add up <br> *definition* | in \\[3, 3\\] | 3 | **pass** |" in text
    assert "**not reproduced** (note 1) <br> *criterion set after a run: the first run used n/2*" in text
    assert "1. peak at n: n too small" in text
    assert book.write_scorecard(executed_book, check=True) == 1  # not written yet
    assert book.write_scorecard(executed_book) == 0
    assert book.write_scorecard(executed_book, check=True) == 0


def test_scorecard_needs_executed_notebooks(tmp_path):
    chapter(tmp_path, "lonely", "Lonely", ["1 + 1"])
    with pytest.raises(FileNotFoundError, match="execute the chapter"):
        book.scorecard_markdown(tmp_path)


def test_code_that_differs_from_the_md_is_caught(executed_book, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(executed_book, root)
    ipynb = root / "part" / "one.ipynb"
    notebook = nbformat.read(ipynb, as_version=4)
    notebook.cells[-1].source += "\nprint('edited')"
    nbformat.write(notebook, ipynb)
    assert book.pairing_problems(root) == [f"{ipynb}: code differs from one.md "
                                           f"(run: python -m memopt.book execute {root / 'part' / 'one.md'})"]


def test_unexecuted_missing_and_failing_notebooks_are_caught(executed_book, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(executed_book, root)
    one = root / "part" / "one.ipynb"
    notebook = json.loads(one.read_text())
    for cell in notebook["cells"]:
        cell["execution_count"] = None
    one.write_text(json.dumps(notebook))
    two = root / "part" / "two.ipynb"
    notebook = nbformat.read(two, as_version=4)
    notebook.cells[-1].outputs.append(nbformat.v4.new_output("error", ename="E", evalue="", traceback=[]))
    nbformat.write(notebook, two)
    chapter(root, "new", "New", ["1"])
    problems = book.pairing_problems(root)
    assert any("new.md: no paired new.ipynb" in p for p in problems)
    assert any("one.ipynb: not fully executed" in p for p in problems)
    assert any("two.ipynb: stored outputs contain an error" in p for p in problems)


def test_seeded_cache_matches_the_source(executed_book, tmp_path):
    assert book.seed_build_cache(executed_book, tmp_path / "cache") == 2
    source = jupytext.read(executed_book / "part" / "one.md")
    assert get_cache(str(tmp_path / "cache")).match_cache_notebook(source) is not None


def test_scorecard_from_the_build_cache_is_the_rendered_outputs(executed_book, tmp_path):
    """`make book` reads the claims of what the site shows from the build's execution cache:
    here seeded with the stored notebooks, so the two scorecards must agree."""
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="build the book first"):
        book.scorecard_markdown(executed_book, cache)
    book.seed_build_cache(executed_book, cache)
    assert book.scorecard_markdown(executed_book, cache) == book.scorecard_markdown(executed_book)
    assert "1 pass, 1 not reproduced, 0 fail" in book.scorecard_markdown(executed_book, cache)


def test_comparing_a_build_with_the_scorecard_writes_nothing(executed_book, tmp_path, capsys):
    """`make book` reports how the build's claims compare with the committed scorecard; the
    committed file changes only through `make notebooks`."""
    root = tmp_path / "copy"
    shutil.copytree(executed_book, root)
    book.write_scorecard(root)
    cache = tmp_path / "cache"
    book.seed_build_cache(root, cache)
    committed = (root / book.SCORECARD).read_text()
    assert book.compare_scorecard(root, cache) == 0
    assert "agree with the committed scorecard" in capsys.readouterr().err
    (root / book.SCORECARD).write_text(committed.replace("| 0.5 |", "| 0.7 |"))
    assert book.compare_scorecard(root, cache) == 0
    assert "1 rows of this build's claims differ" in capsys.readouterr().err
    assert "| 0.7 |" in (root / book.SCORECARD).read_text()


def test_sync_carries_text_and_refuses_code(executed_book, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(executed_book, root)
    md = root / "part" / "one.md"
    md.write_text(md.read_text().replace("# Chapter | one", "# Chapter | one\n\nA new sentence."))
    assert any("text differs" in p for p in book.pairing_problems(root))
    book.sync([md])
    assert book.pairing_problems(root) == []
    assert book.claim_records(md.with_suffix(".ipynb"))[0]["status"] == "pass"  # outputs kept
    md.write_text(md.read_text().replace("claims.at_most(1)", "claims.at_most(2)"))
    with pytest.raises(ValueError, match="its code changed"):
        book.sync([md])


def test_prose_numbers_are_not_found_in_the_digits_of_an_image(tmp_path):
    import base64

    import nbformat

    def chapter(outputs):
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_markdown_cell("We ran 512 runs."),
                          nbformat.v4.new_code_cell("figure = plot()", outputs=outputs)]
        md = tmp_path / "chapter.md"
        nbformat.write(notebook, md.with_suffix(".ipynb"))
        return md

    png = base64.b64encode(b"\x00" * 40).decode() + "512"  # digits inside an image's base64
    image = nbformat.v4.new_output("display_data", data={"image/png": png})
    assert book.unproduced_prose_numbers(chapter([image])) == ["512"]
    printed = nbformat.v4.new_output("stream", name="stdout", text="512 runs\n")
    assert book.unproduced_prose_numbers(chapter([image, printed])) == []
