# PyFlare — `make run` starts the server, `make test` runs every test.
# Both install what is missing first (Debian packages, the Python venv for end-to-end tests).

SWIFT     ?= swift
DATA_DIR  ?= ./data
ARGS      ?=

.PHONY: run test deps venv build build-release unit e2e bench fixtures clean

run: deps build-release
	.build/release/pyflare serve --data-dir $(DATA_DIR) $(ARGS)

test: deps venv
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	PYFLARE_BIN=.build/debug/pyflare e2e/.venv/bin/pytest e2e -q

deps:
	@scripts/install-deps.sh

venv:
	@scripts/setup-venv.sh

build:
	$(SWIFT) build

build-release:
	$(SWIFT) build -c release

unit:
	$(SWIFT) test

e2e: build venv
	PYFLARE_BIN=.build/debug/pyflare e2e/.venv/bin/pytest e2e -q

# Decoder benchmarks (ordo-one/benchmark) and ingest load runs with ../shared/bench/loadgen.py;
# results go to docs/benchmarks.md.
bench: deps venv
	scripts/bench.sh

# Regenerates the decoder fixtures with the real opentelemetry-proto package.
fixtures: venv
	e2e/.venv/bin/python scripts/gen_fixtures.py

clean:
	rm -rf .build .build-bench
