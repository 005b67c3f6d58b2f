# process-memory: `make run` serves on 127.0.0.1:8000; `make test` installs and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-server run lint test bench bench-original bench-quick wrk mutate ferretdb verifier witness nginx-config clean

# make nginx-config LISTEN=80 UPSTREAM=unix:/run/process-memory/gunicorn.sock MAX_BODY=67108864
# (several app hosts: UPSTREAM="10.0.1.11:8000 10.0.1.12:8000")
LISTEN ?= 8080
UPSTREAM ?= 127.0.0.1:8000
MAX_BODY ?= 67108864
SERVER_NAME ?= _

RUNTIME := requirements.txt requirements-client.txt requirements-server.txt pyproject.toml

# What serving needs: the pinned client and server packages, then the project itself, editable (its console
# scripts included), built with the setuptools pip brings; `make run` installs nothing more.
$(BIN)/.served: $(RUNTIME)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

# Everything the tests, the lint and the benchmarks use besides.
$(BIN)/.installed: $(BIN)/.served requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# A production host: the venv with what serving needs and nothing more (docs/deployment.md).
install-server: $(BIN)/.served

# make run PORT=8001 serves on another loopback port (PROCESS_MEMORY_BIND, when set, is used as it is).
PORT ?= 8000

run: $(BIN)/.served
	@[ -n "$$PROCESS_MEMORY_BIND" ] || $(BIN)/python -c 'import socket, sys; busy = socket.socket().connect_ex(("127.0.0.1", $(PORT))) == 0; sys.exit("make run: 127.0.0.1:$(PORT) is in use (another make run?): stop it, or serve on another port: make run PORT=$(shell expr $(PORT) + 1)" if busy else 0)'
	PROCESS_MEMORY_BIND="$${PROCESS_MEMORY_BIND:-127.0.0.1:$(PORT)}" $(BIN)/gunicorn -c gunicorn.conf.py wsgi:process_memory_app

ferretdb:
	tools/ferretdb/build.sh

# The independent offline verifier, in Go (tools/verify): the tests check the service's proofs with it.
verifier:
	tools/verify/build.sh

# Two of these, the independent witnesses (litewitness from filippo.io/torchwood), cosign the tests' service logs.
witness:
	tools/witness/build.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m tools.code_shape process_memory
	$(BIN)/python -m mypy process_memory

test: install ferretdb verifier witness lint
	$(BIN)/python -m pytest

# Every scenario writes bench/results/<name>.json; bench.report turns them into docs/benchmarks.md (under 10 minutes).
bench: install ferretdb wrk witness
	$(BIN)/python -m bench.appends
	$(BIN)/python -m bench.batches
	$(BIN)/python -m bench.large
	$(BIN)/python -m bench.tail
	$(BIN)/python -m bench.reads
	$(BIN)/python -m bench.growth
	$(BIN)/python -m bench.state
	$(BIN)/python -m bench.reprocessing
	$(BIN)/python -m bench.slow_clients
	$(BIN)/python -m bench.anchoring
	$(BIN)/python -m bench.queries
	$(BIN)/python -m bench.one_collection
	$(BIN)/python -m bench.scale_out
	[ -z "$$PM_ORIGINAL_CHECKOUTS" ] || $(BIN)/python -m bench.original
	$(BIN)/python -m bench.report

# Ours beside the original service on both FerretDB handlers, from the operator's checkouts of its branches:
# PM_ORIGINAL_CHECKOUTS="fix_reprocess=DIR master=DIR" (docs/compatibility.md, "Measured beside the original").
bench-original: install ferretdb wrk
	$(BIN)/python -m bench.original
	$(BIN)/python -m bench.report

# SQLite through gunicorn only, fewer rounds (under 2 minutes): a first look after a change to the storage path.
bench-quick: install wrk
	$(BIN)/python -m bench.appends --quick
	$(BIN)/python -m bench.tail --quick
	$(BIN)/python -m bench.report

# The load generator: Debian's wrk, installed when missing and we may (root); otherwise say how.
wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } \
		|| { echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; }

nginx-config: install
	@mkdir -p var
	$(BIN)/python -m process_memory.deploy --listen $(LISTEN) --upstream $(UPSTREAM) \
		--max-body $(MAX_BODY) --server-name $(SERVER_NAME) > var/nginx-process_memory.conf
	@echo "wrote var/nginx-process_memory.conf; run gunicorn behind it with PROCESS_MEMORY_PROXY_HOPS=1 and PROCESS_MEMORY_API_KEYS_FILE set (docs/security.md)"

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis

# Mutation testing of the rule modules (pyproject.toml [tool.mutmut]), bounded to MUTATE_MINUTES on
# 2 cores; not part of `make test`. Writes the score and the surviving mutants to docs/testing.md.
# A run cut short by the bound goes on where it stopped the next time (mutmut tests again only the functions
# and tests that changed); MUTATE_FRESH=1 starts over. A mutant that deadlocks (the group commit's hand-on,
# say) uses no CPU, so mutmut's CPU limit never ends it: pytest's own timeout does, after a minute.
MUTATE_MINUTES ?= 60
MUTATE_FRESH ?= 0
mutate: install
	if [ "$(MUTATE_FRESH)" = 1 ]; then rm -rf mutants; fi
	mkdir -p var
	-env -u CI PATH="$(CURDIR)/$(BIN):$$PATH" PROCESS_MEMORY_TEST_BACKENDS=sqlite,mongomock,memory,file \
		PYTEST_ADDOPTS=--timeout=60 timeout $(MUTATE_MINUTES)m $(BIN)/mutmut run --max-children 2 > var/mutmut.log 2>&1
	$(BIN)/python -m tools.mutation_report docs/testing.md
