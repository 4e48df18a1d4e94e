# ircpsyc: `make run` starts the server on its embedded defaults (`make run ARGS="--config
# ircpsyc.toml"` passes options to `ircpsyc serve`), `make test` runs everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit man-check bench bench-compare bench-defaults bench-crowd \
	conformance clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ircpsyc serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ircpsyc tests benchmarks conformance tools
	$(BIN)/ruff format --check ircpsyc tests benchmarks conformance tools

typecheck: $(STAMP)
	$(BIN)/mypy

man-check:
	@for page in man/*.[0-9]; do \
		out=$$(LC_ALL=C.UTF-8 groff -man -ww -z $$page 2>&1); \
		if [ -n "$$out" ]; then echo "$$page: $$out"; exit 1; fi; \
	done; echo "man pages: ok"

unit: $(STAMP)
	$(BIN)/pytest -q -n 2

test: lint typecheck man-check unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --server ircpsyc

bench-compare: $(STAMP)
	$(BIN)/python -m benchmarks.run --server ircpsyc --server ngircd --server inspircd

# Flood control as shipped against flood control off, at a chat rate (benchmarks/README.md).
bench-defaults: $(STAMP)
	$(BIN)/python -m benchmarks.run --server ircpsyc --server ircpsyc-defaults --repeat 3 \
		--scenario fanout-paced --scenario channels-paced --scenario privmsg-paced

# 10,000 clients in 2,000 channels, one line per client per 10 s.
bench-crowd: $(STAMP)
	$(BIN)/python -m benchmarks.run --server ircpsyc-defaults --server ngircd --server inspircd \
		--scenario crowd

conformance: $(STAMP)
	$(BIN)/python -m conformance.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
