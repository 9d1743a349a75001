# Two entry points: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint types pytest docs notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python -m tiffzarr.demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check tiffzarr tests benchmarks docs/_griffe_docstrings.py
	$(BIN)/ruff format --check tiffzarr tests benchmarks docs/_griffe_docstrings.py

types: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -p no:cacheprovider

# the site is built into build/site; --strict turns every broken reference into a failure
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -f docs/mkdocs.yml

# every notebook executed headless, data generated, servers on 127.0.0.1 only
notebooks: $(VENV)/.installed-test
	$(BIN)/python -m pytest -p no:cacheprovider --nbmake --nbmake-timeout=180 notebooks

test: lint types pytest docs notebooks

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
