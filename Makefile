PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench eval browser-deps clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/assistant serve --config config.toml

test: $(STAMP) browser-deps
	$(BIN)/pytest -q

# Style (ruff lint + format check) and types (mypy) over the code, the hooks and the tests.
lint: $(STAMP)
	$(BIN)/ruff check assistant hooks tests bench
	$(BIN)/ruff format --check assistant hooks tests bench
	$(BIN)/mypy assistant hooks tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

eval: $(STAMP)
	$(BIN)/assistant eval
	$(BIN)/assistant qa eval

# Debian's Chromium for the browser tests (Playwright drives it; no browser download), and a CJK font
# so that Chinese text renders in their screenshots instead of empty boxes.
browser-deps:
	@(test -x /usr/bin/chromium && test -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc) || \
		(apt-get update -q && apt-get install -y -q chromium fonts-noto-cjk)

clean:
	rm -rf $(VENV) .pytest_cache
