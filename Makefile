# The two commands of README.md: `make book` and `make test`. Both create .venv when it is
# missing and (re)install the package with its book and test extras when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
JUPYTER_BOOK := $(BIN)/jupyter-book
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg

.PHONY: book test notebooks clean help

help:
	@echo "make book       execute every chapter and build the website into _build/html"
	@echo "make test       unit tests, nbval on the stored notebooks, sync checks, strict build"
	@echo "make notebooks  (authors) re-execute the chapters into their .ipynb, refresh the scorecard"
	@echo "make clean      remove _build"

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	@touch $@

# Executes every chapter (jupyter-book's cache re-runs only what changed), refreshes the
# scorecard from the outputs the site renders (the build's execution cache), and builds the
# site with it.
book: $(INSTALLED)
	$(JUPYTER_BOOK) build .
	$(BIN)/python -m memopt.book scorecard --from-cache
	$(JUPYTER_BOOK) build .
	@echo
	@echo "The book is built. Open file://$(CURDIR)/_build/html/index.html"

# nbval executes the stored notebooks and compares their outputs; the strict build then
# renders those same checked outputs (seeded into the execution cache) instead of executing
# the chapters a second time.
test: $(INSTALLED)
	$(BIN)/python -m pytest tests book $(NBVAL)
	$(BIN)/python -m memopt.book seed-cache
	$(JUPYTER_BOOK) build . -W -n --keep-going

notebooks: $(INSTALLED)
	$(BIN)/python -m memopt.book execute

clean:
	rm -rf _build
