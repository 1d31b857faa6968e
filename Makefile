# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench install lint schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/tenantgraph migrate
	$(BIN)/tenantgraph seed --demo
	@echo
	@echo "Log in (password: demo-password), e.g.:"
	@echo "  curl -s -c jar -H 'Content-Type: application/json' http://acme.localhost:8000/graphql \\"
	@echo "    -d '{\"query\":\"mutation { login(email: \\\"alice@acme.test\\\", password: \\\"demo-password\\\") { token } }\"}'"
	@echo "The README has the whole session."
	@echo
	$(BIN)/tenantgraph serve

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The benchmark (docs/performance.md): its own embedded server in .pgdata-bench/ (or DATABASE_URL's
# server, databases tenantgraph_bench*), 10-20 min at full scale; BENCH_SCALE=small for a quick run.
BENCH_SCALE ?= full
NPM := $(shell command -v npm 2>/dev/null)

bench: install
ifdef NPM
	cd bench/postgraphile && npm ci --no-audit --no-fund --loglevel=error \
		|| echo "npm ci failed (offline?): the PostGraphile baseline is skipped"
else
	@echo "npm not found: the PostGraphile baseline is skipped (install Node.js to include it)"
endif
	$(BIN)/python -m bench run --scale $(BENCH_SCALE)
	$(BIN)/python -m pytest -m bench -s -p no:cacheprovider

lint: install
	$(BIN)/ruff check .

schema: install
	$(BIN)/tenantgraph export-schema > schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
