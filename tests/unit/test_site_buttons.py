"""The site's repository and launch buttons (book/_ext/memopt_site.py).

Unset, MEMOPT_REPOSITORY gives pages without any link to a repository; set, each chapter opens
its paired .ipynb on Colab and Binder and links to the repository and its issues. Both are
checked on a two-page book built with the project's own _config.yml (no notebook executed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from hypothesis import given
from hypothesis import strategies as st
from sphinx.builders.html._assets import _JavaScript
from sphinx.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import memopt_site  # noqa: E402

FORK = "https://github.com/someone/memopt-fork"


@pytest.mark.parametrize("environ, configured, expected", [
    ({}, "", None),
    ({}, None, None),
    ({"MEMOPT_REPOSITORY": "  "}, "", None),
    ({"MEMOPT_REPOSITORY": FORK}, "", FORK),
    ({"MEMOPT_REPOSITORY": FORK + ".git"}, "", FORK),
    ({"MEMOPT_REPOSITORY": FORK + "/"}, "", FORK),
    ({}, FORK, FORK),
    ({"MEMOPT_REPOSITORY": FORK}, "https://github.com/other/book", FORK),  # the variable wins
])
def test_repository_url(environ, configured, expected):
    assert memopt_site.repository_url(environ, configured) == expected


@pytest.mark.parametrize("bad", [
    "https://gitlab.com/someone/memopt", "http://github.com/someone/memopt",
    "https://github.com/someone", "github.com/someone/memopt",
    "https://github.com/someone/memopt/tree/main", "https://github.com/-x/memopt",
])
def test_repository_url_refuses_anything_but_a_github_repository(bad):
    with pytest.raises(ConfigError, match="MEMOPT_REPOSITORY must be a GitHub repository URL"):
        memopt_site.repository_url({"MEMOPT_REPOSITORY": bad}, "")
    with pytest.raises(ConfigError, match="repository.url in _config.yml"):
        memopt_site.repository_url({}, bad)


@given(owner=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}", fullmatch=True),
       name=st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,40}", fullmatch=True))
def test_any_github_repository_is_kept_as_given(owner, name):
    url = f"https://github.com/{owner}/{name}"
    expected = url.removesuffix(".git") if name.removesuffix(".git") else url
    assert memopt_site.repository_url({"MEMOPT_REPOSITORY": url}, None) == expected


def test_theme_options_without_a_repository_drop_every_button_that_needs_one():
    options = {"repository_url": "", "launch_buttons": {"colab_url": "https://colab.research.google.com"},
               "use_repository_button": True, "use_issues_button": True, "path_to_docs": ""}
    new = memopt_site.theme_options(options, None)
    assert "repository_url" not in new
    assert new["launch_buttons"] == {}
    assert not any(new[k] for k in ("use_repository_button", "use_issues_button",
                                    "use_edit_page_button", "use_source_button"))
    assert options["launch_buttons"], "the given options are not changed"


def test_unique_scripts_drops_the_repeated_inline_script():
    scripts = [_JavaScript("a.js"), _JavaScript(None, body="const A = 1;"),
               _JavaScript("", body="const A = 1;"), _JavaScript(None, body="const B = 2;")]
    assert memopt_site.unique_scripts(scripts) == [scripts[0], scripts[1], scripts[3]]


CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

Some text, and $x^2$.

```{code-cell} ipython3
print(1)
```
"""


def _paired_notebook() -> dict:
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
                       "outputs": [], "source": ["print(1)"]}],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def _build(tmp_path: Path) -> BeautifulSoup:
    """Build a two-page book with the project's configuration; return the chapter's page."""
    from jupyter_book.sphinx import build_sphinx

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["execute"] = {"execute_notebooks": "off"}
    config["bibtex_bibfiles"] = [str(ROOT / "book" / "references.bib")]
    config["sphinx"]["local_extensions"] = {"memopt_site": str(ROOT / "book" / "_ext")}
    config["sphinx"]["extra_extensions"] = []  # MathJax files, proofs and exercises: not under test
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/part/chapter\n", encoding="utf-8")
    (tmp_path / "book" / "part").mkdir(parents=True)
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nThe book.\n", encoding="utf-8")
    (tmp_path / "book" / "part" / "chapter.md").write_text(CHAPTER, encoding="utf-8")
    (tmp_path / "book" / "part" / "chapter.ipynb").write_text(json.dumps(_paired_notebook()), encoding="utf-8")
    output = tmp_path / "_build" / "html"
    status = build_sphinx(tmp_path, output, noconfig=True, path_config=str(tmp_path / "_config.yml"),
                          confoverrides={"external_toc_path": str(tmp_path / "_toc.yml"),
                                         "latex_individualpages": False, "nitpicky": True},
                          warningiserror=True, freshenv=True, really_quiet=True)
    assert status == 0, f"the test book did not build: {status!r}"
    return BeautifulSoup((output / "book" / "part" / "chapter.html").read_text(encoding="utf-8"), "html.parser")


def _hrefs(page: BeautifulSoup) -> list[str]:
    return [a["href"] for a in page.find_all("a", href=True)]


def test_without_a_repository_no_page_links_to_one(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMOPT_REPOSITORY", raising=False)
    page = _build(tmp_path)
    hrefs = _hrefs(page)
    assert not [h for h in hrefs if "github.com" in h or "colab" in h or "mybinder" in h], hrefs
    assert page.find(class_="dropdown-launch-buttons") is None
    downloads = [h for h in hrefs if "_sources/" in h]
    assert any(h.endswith("_sources/book/part/chapter.md") for h in downloads), downloads
    assert any(h.endswith("_sources/book/part/chapter.ipynb") for h in downloads), downloads
    assert (tmp_path / "_build" / "html" / "_sources" / "book" / "part" / "chapter.ipynb").is_file()
    # the inline script Sphinx 7.4 repeats is written once
    assert str(page).count("const THEBE_JS_URL") == 1


def test_with_a_repository_the_chapter_opens_its_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMOPT_REPOSITORY", FORK)
    hrefs = _hrefs(_build(tmp_path))
    assert f"https://colab.research.google.com/github/someone/memopt-fork/blob/main/book/part/chapter.ipynb" in hrefs
    assert "https://mybinder.org/v2/gh/someone/memopt-fork/main?urlpath=tree/book/part/chapter.ipynb" in hrefs
    assert FORK in hrefs
    assert any(h.startswith(FORK + "/issues/new") for h in hrefs), hrefs
    assert any(h.endswith("_sources/book/part/chapter.ipynb") for h in hrefs)
