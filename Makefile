# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   creates .venv, installs, generates the demo cohort, runs it, prints reports/index.html
#   make test   creates .venv if missing, installs, runs the whole test suite (nbval included)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-cohort
STAMP  := $(VENV)/.installed
# test processes (pytest-xdist); each test file stays on one worker, so module and session fixtures
# (the demo generated and curated once) are built once: TEST_WORKERS=0 runs in one process
TEST_WORKERS ?= 2

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/curation demo --out $(DEMO); status=$$?; \
	  test $$status -le 1 || exit $$status

test: $(STAMP)
	$(BIN)/python -m pytest tests --nbval-lax notebooks -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check curation tests bench
	$(BIN)/ruff format --check curation tests bench
	$(BIN)/mypy curation

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(DEMO) .pytest_cache
