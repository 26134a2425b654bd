PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench eval train messages browser-deps postgres-deps native clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# The hot modules (the matcher's, and events.py) compiled with mypyc (assistant/suggest/native.py), rebuilt when
# a source changes.
# Without a C compiler they run from source: a warning, not a failure.
NATIVE_SOURCES := $(addprefix assistant/suggest/,$(addsuffix .py,clauses keywords textnorm scorer triggers goods plan answers matcher customer_type type_evidence)) assistant/events.py
NATIVE_STAMP := build/native/.built

$(NATIVE_STAMP): $(STAMP) $(NATIVE_SOURCES) assistant/suggest/native.py
	@command -v gcc >/dev/null || (apt-get update -q && apt-get install -y -q gcc) || true
	@mkdir -p build/native
	$(BIN)/python -m assistant.suggest.native >build/native/log 2>&1 && touch $@ || \
		(tail -5 build/native/log; echo "warning: the hot modules are not compiled; they run from source")

native: $(NATIVE_STAMP)

serve: $(STAMP) native
	$(BIN)/assistant serve --config config.toml

test: $(STAMP) native browser-deps postgres-deps
	$(BIN)/pytest -q

# Style (ruff lint + format check) and types (mypy) over the code, the hooks and the tests.
lint: $(STAMP)
	$(BIN)/ruff check assistant hooks tests bench
	$(BIN)/ruff format --check assistant hooks tests bench
	$(BIN)/mypy assistant hooks tests bench

bench: $(STAMP) native
	$(BIN)/python -m bench

# The project's labeled sets: intents (written, held out, final) and customer types.
eval: $(STAMP)
	$(BIN)/assistant eval tests/data/intents.tsv tests/data/holdout_intents.tsv tests/data/final_intents.tsv \
		tests/data/message_forms.tsv
	$(BIN)/assistant eval --types tests/data/final_types.tsv
	$(BIN)/assistant qa eval

# Retrain the learned scorer after editing triggers, examples or key words (writes phrases/scorer.npz).
train: $(STAMP)
	$(BIN)/assistant phrases train

# The message catalog: extract every user-facing string (code and templates) and merge it into the zh_CN
# catalog, keeping its translations; then translate the new entries (tests/test_i18n.py fails until then).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k N_ --no-location --omit-header \
		-o $(VENV)/messages.pot .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d assistant/locale -l zh_CN -w 120 --ignore-obsolete
	$(BIN)/pybabel extract -k _ -k ngettext:1,2 --no-location --omit-header -o $(VENV)/click.pot \
		"$$($(BIN)/python -c 'import click, os; print(os.path.dirname(click.__file__))')"
	$(BIN)/pybabel update -D click -i $(VENV)/click.pot -d assistant/locale -l zh_CN -w 120 --ignore-obsolete

# Debian's Chromium for the browser tests (Playwright drives it; no browser download), and a CJK font
# so that Chinese text renders in their screenshots instead of empty boxes.
browser-deps:
	@(test -x /usr/bin/chromium && test -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc) || \
		(apt-get update -q && apt-get install -y -q chromium fonts-noto-cjk)

# PostgreSQL's server binaries for the tests' throwaway cluster (tests/pgcluster.py runs initdb and pg_ctl
# from them in a temporary directory, as an unprivileged user, on a local port; no system service is used).
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q postgresql)

clean:
	rm -rf $(VENV) .pytest_cache build
	find assistant -name '*.so' -delete
