# kzoo: build, run and test. `make help` lists the targets.
#
# The local cluster (make run/up/down/status) takes its settings from the
# environment or the command line, e.g. `make up BROKERS=5` or
# `make run KZOO_LOG_SEGMENT_BYTES=1048576`; see `scripts/cluster --help`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
MAKEFLAGS += --no-print-directory

GO ?= go
# What tests keep (t.ArtifactDir): the web console's screenshots, under
# $(TEST_OUTPUT)/_artifacts/.
TEST_OUTPUT := $(CURDIR)/.test-output
CLUSTER := scripts/cluster
# Go sources, without test fixtures, which may be malformed on purpose.
GO_FILES = find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0

.PHONY: help deps build run up down status test e2e bench bench-scale fmt vet clean
.PHONY: images compose-test compose-secure-test

help:
	@echo 'make deps     install what is missing: Debian zookeeper (with a JRE), kcat, python3-kafka, python3-confluent-kafka, chromium (e2e/console); Go modules'
	@echo 'make build    bin/kzoo-broker and bin/kzoo'
	@echo 'make run      deps, build, then run a local cluster in the foreground (Ctrl-C stops it)'
	@echo 'make up       build, then start a local cluster in the background'
	@echo 'make down     stop the local cluster'
	@echo "make status   show the local cluster's processes"
	@echo 'make test     deps, gofmt check, go vet, every test'
	@echo 'make e2e      the end-to-end tests only'
	@echo 'make bench    every benchmark (scripts/bench-compare REV: the same, on REV and here, interleaved)'
	@echo 'make bench-scale  3 brokers, 10k/50k/100k RF 3 partitions: online, failover, shutdown, restart, RSS, fds, Metadata'
	@echo '             (KZOO_SCALE_PARTITIONS=2000,5000 other sizes; KZOO_SCALE_PHASE_TIMEOUT=10m per phase)'
	@echo 'make fmt      gofmt every Go file'
	@echo 'make vet      go vet'
	@echo 'make clean    stop the local cluster, remove bin/ and .kzoo/'
	@echo 'make images   container images kzoo/broker and kzoo/zookeeper, built without a registry'
	@echo 'make compose-test  images, then docker-compose.yml'"'"'s cluster tested with faults (docker/compose-test.sh)'
	@echo 'make compose-secure-test  images, then docker-compose.yml'"'"'s secure profile tested (docker/compose-secure-test.sh)'

# Installs only what is missing, and asks apt for the package lists only when
# it has something to install.
deps:
	@missing=(); \
	if [[ $$(dpkg-query -W -f='$${Status}' zookeeper 2>/dev/null) != 'install ok installed' ]]; then \
		missing+=(zookeeper); \
	fi; \
	if ! command -v kcat >/dev/null; then \
		missing+=(kcat); \
	fi; \
	if ! command -v openssl >/dev/null; then \
		missing+=(openssl); \
	fi; \
	if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
		missing+=(chromium); \
	fi; \
	for pkg in python3-kafka python3-confluent-kafka; do \
		if [[ $$(dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null) != 'install ok installed' ]]; then \
			missing+=("$$pkg"); \
		fi; \
	done; \
	if (( $${#missing[@]} > 0 )); then \
		sudo=(); \
		if (( $$(id -u) != 0 )); then sudo=(sudo); fi; \
		echo "installing: $${missing[*]}"; \
		"$${sudo[@]}" apt-get update -q; \
		"$${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$${missing[@]}"; \
	fi
	$(GO) mod download

build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/kzoo-broker ./cmd/kzoo

run: deps build
	@$(CLUSTER) run

up: build
	@$(CLUSTER) up

down:
	@$(CLUSTER) down

status:
	@$(CLUSTER) status

test: deps
	@unformatted=$$($(GO_FILES) | xargs -0 -r gofmt -l); \
	if [[ -n $$unformatted ]]; then \
		echo 'gofmt: these files are not formatted (run make fmt):'; \
		echo "$$unformatted"; \
		exit 1; \
	fi
	$(GO) vet ./...
	@rm -rf $(TEST_OUTPUT) && mkdir -p $(TEST_OUTPUT)
	$(GO) test -count=1 -timeout 25m -artifacts -outputdir $(TEST_OUTPUT) ./...
	@if ! docker info >/dev/null 2>&1; then \
		echo 'make test: no Docker engine answers; skipping compose-test'; \
	elif ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then \
		echo 'make test: Docker has no compose tool; skipping compose-test'; \
	else \
		$(MAKE) --no-print-directory compose-test; \
	fi

e2e: deps
	@rm -rf $(TEST_OUTPUT) && mkdir -p $(TEST_OUTPUT)
	$(GO) test -count=1 -timeout 25m -artifacts -outputdir $(TEST_OUTPUT) ./e2e/...

# Runs the benchmarks of every package that has any.
bench:
	@packages=$$( \
		{ grep -rlE --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata '^func Benchmark' . || (( $$? == 1 )); } \
		| xargs -r dirname | sort -u); \
	if [[ -z $$packages ]]; then \
		echo 'no benchmarks'; \
		exit 0; \
	fi; \
	$(GO) test -run '^$$' -bench . -benchmem $$packages

# Not part of `make test` or `make bench`: at its default sizes it runs for
# tens of minutes. TestScaleBench (e2e/scale) skips itself without
# KZOO_SCALE_BENCH=1; the table goes to standard output.
bench-scale: deps
	KZOO_SCALE_BENCH=1 $(GO) test -count=1 -timeout 0 -run '^TestScaleBench$$' -v ./e2e/scale

fmt:
	$(GO_FILES) | xargs -0 -r gofmt -w

vet:
	$(GO) vet ./...

# ---- container images (docker/) ---------------------------------------------
#
# No registry is needed: kzoo/broker is FROM scratch with static binaries
# built here, and the ZooKeeper image's base is a Debian root file system made
# by debootstrap from the host's mirror (docker/zookeeper/build-base.sh), which
# is kept once built, so only the first `make images` takes minutes.
BROKER_IMAGE ?= kzoo/broker
ZK_IMAGE ?= kzoo/zookeeper
ZK_BASE_IMAGE ?= kzoo/zookeeper-base
# The broker image's build context: the binaries and an empty data directory.
BROKER_IMAGE_CONTEXT := bin/image/broker

images:
	rm -rf '$(BROKER_IMAGE_CONTEXT)'
	mkdir -p '$(BROKER_IMAGE_CONTEXT)/data'
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o '$(BROKER_IMAGE_CONTEXT)/' ./cmd/kzoo-broker ./cmd/kzoo
	docker build --quiet --tag '$(BROKER_IMAGE)' --file docker/broker/Dockerfile '$(BROKER_IMAGE_CONTEXT)'
	@if ! docker image inspect '$(ZK_BASE_IMAGE)' >/dev/null 2>&1 && ! command -v debootstrap >/dev/null; then \
		sudo=(); \
		if (( $$(id -u) != 0 )); then sudo=(sudo); fi; \
		echo 'installing: debootstrap'; \
		"$${sudo[@]}" apt-get update -q; \
		"$${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap; \
	fi
	ZK_BASE_IMAGE='$(ZK_BASE_IMAGE)' docker/zookeeper/build-base.sh
	docker build --quiet --tag '$(ZK_IMAGE)' --build-arg BASE='$(ZK_BASE_IMAGE)' docker/zookeeper

# Part of `make test` where a Docker engine answers; about a minute and a
# half once the images exist, three more the first time.
compose-test: images build
	BROKER_IMAGE='$(BROKER_IMAGE)' ZK_IMAGE='$(ZK_IMAGE)' docker/compose-test.sh

# The `secure` profile: SASL_SSL, mTLS and refusals, from the host.
compose-secure-test: images build
	BROKER_IMAGE='$(BROKER_IMAGE)' ZK_IMAGE='$(ZK_IMAGE)' docker/compose-secure-test.sh

# Stops the cluster first: its pid files live in .kzoo, and without them
# scripts/cluster no longer knows its processes.
clean:
	@if [[ -d .kzoo ]]; then KZOO_HOME='$(CURDIR)/.kzoo' $(CLUSTER) down; fi
	rm -rf bin .kzoo
