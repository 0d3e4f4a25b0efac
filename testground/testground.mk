# Test ground targets; the root Makefile does `include testground/testground.mk`.
# See testground/README.md. All state lives outside the repo, under $(TESTGROUND_CACHE).
TESTGROUND_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TESTGROUND_CACHE ?= $(HOME)/.cache/redis-cluster-testground
# Kubeconfig of the running test ground (fixed path; written by cluster-up).
TESTGROUND_KUBECONFIG ?= $(TESTGROUND_CACHE)/kubeconfig
export TESTGROUND_CACHE

.PHONY: cluster-up cluster-down testground-deps testground-smoke

## cluster-up: build (cached) and start the kwok control plane + pod harness; idempotent
cluster-up: testground-deps
	$(TESTGROUND_DIR)/up.sh

## cluster-down: stop the pod harness and its redis-servers, delete the cluster and its data
cluster-down:
	$(TESTGROUND_DIR)/down.sh

## testground-deps: install the Debian packages the test ground needs (quiet, idempotent)
testground-deps:
	$(TESTGROUND_DIR)/ensure-deps.sh

## testground-smoke: end-to-end check of a running test ground (namespace tg-smoke)
testground-smoke:
	$(TESTGROUND_DIR)/smoke.sh
