"""Sphinx hook of the book's website: buttons that link to a repository only when one is named.

The book names no repository of its own: a copy of it lives wherever its reader forked it. The
one setting is the environment variable ``MEMOPT_REPOSITORY`` (or, to keep it, ``repository.url``
in ``_config.yml``; the variable wins), a GitHub URL such as ``https://github.com/OWNER/memopt``.
With it set, every chapter has a repository button, an issues button and launch buttons that
open the chapter's paired ``.ipynb`` on Colab or Binder. Without it, no page links to any
repository. The download buttons (the page's ``.md``, its executed ``.ipynb``, print to PDF) are
there either way: the theme offers the ``.ipynb`` only beside launch buttons, so this hook offers
it itself, with the chapter's stored outputs (its paired ``.ipynb``).

It adds the site's style sheet and script (``book/_static``): on a laptop's screen the page's
contents move behind the header's list button, which the script makes open them, so that the
text column holds 88-character lines of code; printed outputs wrap instead of scrolling.

It also mends three things a reader of the site opened from ``file://`` would otherwise meet as
JavaScript errors: Sphinx 7.4 writes inline scripts registered late twice (a second ``const`` is a
SyntaxError), the theme's colour mode is unset until the reader picks one, and the search page
fetches each result page for its summary, which browsers refuse from ``file://``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError

ENVIRONMENT_VARIABLE = "MEMOPT_REPOSITORY"
# The site's own style and script: a wider text column on laptop screens, printed outputs that
# wrap, and a header button that opens the page's contents.
STATIC = Path(__file__).resolve().parent.parent / "_static"
STYLE_SHEET, SCRIPT = "memopt.css", "memopt.js"

# Colab opens notebooks from GitHub only, so that is the one host accepted.
GITHUB_REPOSITORY = re.compile(
    r"^https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<name>[A-Za-z0-9._-]{1,100}?)(?:\.git)?/?$"
)
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button")
# Buttons that would need a repository and that the site never shows.
UNUSED_BUTTONS = ("use_edit_page_button", "use_source_button")


def repository_url(environ: Mapping[str, str], configured: str | None) -> str | None:
    """The repository the site links to: ``$MEMOPT_REPOSITORY``, else ``configured``, else None.

    Raises ConfigError (one line, naming the setting) for anything but a GitHub repository URL.
    """
    from_environment = environ.get(ENVIRONMENT_VARIABLE, "").strip()
    url = from_environment or (configured or "").strip()
    if not url:
        return None
    match = GITHUB_REPOSITORY.match(url)
    if match is None:
        source = ENVIRONMENT_VARIABLE if from_environment else "repository.url in _config.yml"
        raise ConfigError(
            f"{source} must be a GitHub repository URL such as https://github.com/OWNER/memopt "
            f"(Colab opens notebooks from GitHub only), not {url!r}"
        )
    return f"https://github.com/{match['owner']}/{match['name']}"


def theme_options(options: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    """The theme options with the repository and launch buttons on for ``url``, off for None.

    ``options["launch_buttons"]`` names the launch services (Colab, Binder) to use for a named
    repository; without one they are all dropped, since each of them opens the repository.
    """
    new = dict(options)
    for key in UNUSED_BUTTONS:
        new[key] = False
    if url is None:
        new.pop("repository_url", None)
        for key in REPOSITORY_BUTTONS:
            new[key] = False
        new["launch_buttons"] = {}
    else:
        new["repository_url"] = url
        for key in REPOSITORY_BUTTONS:
            new[key] = True
    return new


def _configure(app: Sphinx, config: Config) -> None:
    options = config.html_theme_options
    url = repository_url(os.environ, options.get("repository_url"))
    updated = theme_options(options, url)
    options.clear()
    options.update(updated)
    # The colour mode follows the reader's system; unset, the theme logs an error on a first visit.
    config.html_context.setdefault("default_mode", "auto")
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def unique_scripts(scripts: list) -> list:
    """``scripts`` without repeats: Sphinx 7.4 registers an inline script added after the builder
    started a second time (once with filename None, once with ''), which duplicates ``const``s."""
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or None, tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    return unique


def _drop_repeated_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        scripts[:] = unique_scripts(scripts)  # in place: the builder restores it after the page


def has_outputs(notebook: Path) -> bool:
    """Whether any code cell of the notebook file holds an output."""
    import nbformat  # noqa: PLC0415 - comes with the book's build

    cells = nbformat.read(notebook, as_version=4).cells
    return any(cell.get("outputs") for cell in cells if cell.cell_type == "code")


def executed_notebook(source: Path, built: Path) -> Path | None:
    """The executed notebook to offer for a page whose MyST source is ``source``: its paired
    ``.ipynb`` (the stored, nbval-checked outputs) when that holds the source's code and outputs,
    else the notebook the build executed (``built``) when it holds outputs; None when neither does.

    The build's own copy is a fallback only: rendered from the execution cache, as ``make test``
    renders the stored outputs, myst-nb writes it without outputs.
    """
    from memopt.book import code_cells  # noqa: PLC0415 - the book's tools, installed with it

    paired = source.with_suffix(".ipynb")
    if paired.is_file() and code_cells(paired) == code_cells(source) and has_outputs(paired):
        return paired
    if built.is_file() and has_outputs(built):
        return built
    return None


def _offer_notebook(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Put the executed notebook of a MyST-notebook page among its download buttons."""
    if context.get("ipynb_source") or not str(context.get("sourcename", "")).endswith(".md"):
        return
    built = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not built.is_file():
        return  # a page of text, not a notebook
    executed = executed_notebook(Path(app.srcdir) / f"{pagename}.md", built) or built
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _configure)
    # Before the theme builds its header buttons (priority 501).
    app.connect("html-page-context", _offer_notebook, priority=500)
    # After every handler that adds page scripts (MathJax's among them).
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    # After the theme's style sheets, so that the site's rules win where both set a property.
    app.add_css_file(STYLE_SHEET, priority=900)
    app.add_js_file(SCRIPT)
    # Summaries of search results are fetched from the result pages, which file:// forbids.
    app.add_js_file(None, body="if (location.protocol === 'file:') "
                               "DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
