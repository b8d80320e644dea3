# Warden: `make run` starts a dev agent, `make test` runs every test.

GO      ?= go
BIN     := bin/warden
# Empty: the agent's default socket (/run/warden/warden.sock as root, else
# under $XDG_RUNTIME_DIR), which the CLI finds by itself.
SOCKET  ?=
PKGS    := ./...

# promtool for the metrics test (see $(PROMTOOL) below).
PROMTOOL := bin/promtool

.PHONY: all build run test test-zk test-short test-go test-tls test-python test-typescript test-readme test-deploy vet fuzz bench bench-clients bench-peers soak clean cluster cluster-stop cluster-status cluster-kill cluster-restart generate nemesis nemesis-long nemesis-plants image dist need-tmux

all: build

# The version and commit `warden version` prints, stamped into every
# binary make builds: VERSION is the latest v* tag (without the v), else
# 0.1.0-dev; COMMIT the checkout's revision, with -dirty for a modified
# tree (empty outside a git checkout: the binary then says what go build
# stamped).
GIT_VERSION := $(shell git describe --tags --match 'v*' 2>/dev/null | sed 's/^v//')
VERSION     ?= $(or $(GIT_VERSION),0.1.0-dev)
COMMIT      ?= $(shell git describe --always --dirty --abbrev=40 --match 'no-tag^' 2>/dev/null)
LDFLAGS     := -X github.com/warden-dev/warden/agent.Version=$(VERSION) $(if $(COMMIT),-X github.com/warden-dev/warden/agent.commit=$(COMMIT))

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/warden

# A single dev server with its data in a temporary folder; Ctrl-C stops it.
# It prints its socket; make run SOCKET=PATH picks another.
run: build
	./$(BIN) agent --dev $(if $(SOCKET),--socket $(SOCKET))

# A local cluster of SERVERS servers and REPLICAS replicas (3 and 2) on
# 127.0.0.11.. and 127.0.0.21.. (default ports), state in .cluster/. It
# refuses to start while .cluster/ holds a cluster, running or not, and
# says what is there (running agents, stale pid files) and what to do;
# deploy/local-cluster.sh also shows the status and stops, kills and
# restarts agents by name (docs/operations.md).
SERVERS  ?= 3
REPLICAS ?= 2
cluster: build
	deploy/local-cluster.sh start $(SERVERS) $(REPLICAS)

cluster-stop:
	deploy/local-cluster.sh down

# Its status (each agent, the members, the leader), and one agent killed
# (SIGKILL) or restarted on its data: make cluster-kill AGENT=server2,
# make cluster-restart AGENT=server2 (AGENT="server1 server2" restarts
# several at once).
cluster-status:
	deploy/local-cluster.sh status

cluster-kill:
	$(if $(AGENT),,$(error AGENT is missing: make cluster-kill AGENT=server2))
	deploy/local-cluster.sh kill $(AGENT)

cluster-restart:
	$(if $(AGENT),,$(error AGENT is missing: make cluster-restart AGENT=server2))
	deploy/local-cluster.sh restart $(AGENT)

# Releases (docs/operations.md). VERSION (above) names the archives and
# the image and is stamped into their static binaries.
IMAGE       ?= bin/warden-image.tar
IMAGE_ARCH  ?= $(shell $(GO) env GOARCH)
DIST        ?= dist

# The container image, as a tarball for docker load or podman load, built
# from a static binary without a container engine (deploy/image).
image:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o bin/linux-$(IMAGE_ARCH)/warden ./cmd/warden
	cd deploy && $(GO) run ./cmd/warden-image -binary ../bin/linux-$(IMAGE_ARCH)/warden -version $(VERSION) -out $(abspath $(IMAGE))

# DIST/warden-VERSION-linux-{amd64,arm64}.tar.gz, the Python client's
# wheel and sdist, the TypeScript client's npm tarball, and SHA256SUMS.
dist:
	rm -rf $(DIST)
	DIST=$(DIST) VERSION=$(VERSION) GO=$(GO) deploy/dist.sh archives python npm sums

# Every test: the Python and TypeScript clients' suites (their scripts
# install what they need), then the Go tests with the race detector (fuzz
# targets run their seed corpora), among them the test in which apps of all
# three clients contend for one lock (WARDEN_INTEROP=1 makes it required),
# and the deployment artifacts' checks (test-deploy).
# Every suite runs even when an earlier one failed; a line per suite at the
# end says how each went, and make test fails if any did.
SUITES := vet test-python test-typescript test-go test-tls test-deploy test-zk nemesis
test:
	@failed=0; summary=""; \
	for s in $(SUITES); do \
	  start=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$s; then r="ok    "; else r="FAILED"; failed=1; fi; \
	  summary="$$summary  $$r $$s ($$(( $$(date +%s) - start )) s)\n"; \
	done; \
	printf "\n== make test\n$$summary"; \
	exit $$failed

# The fast tier: tests that start no warden process (unit tests, in-process
# agents and the FSM model), in well under a minute.
test-short:
	$(GO) test -short -count=1 $(PKGS)

# Go packages run one at a time (-p 1): many tests start real agent
# processes and assert latencies, which a second package's agents would
# disturb on a small machine.
test-go: $(PROMTOOL) need-tmux
	WARDEN_INTEROP=1 WARDEN_TMUX=1 WARDEN_PROMTOOL=$(CURDIR)/$(PROMTOOL) $(GO) test -race -count=1 -p 1 -timeout 30m $(PKGS)

# promtool, which the agent's metrics test runs (promtool check metrics on
# a real agent's /metrics), taken out of Debian's prometheus package
# without installing the package (no server, no service). The package
# lists are updated first when they lack it. (PROMTOOL is set at the top.)
$(PROMTOOL):
	@mkdir -p $(dir $@)
	@tmp=$$(mktemp -d); \
	( cd $$tmp && \
	  { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus; }; } && \
	  dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool ) && \
	  mv $$tmp/usr/bin/promtool $@; rc=$$?; rm -rf $$tmp; \
	if [ $$rc -ne 0 ]; then echo "could not get promtool from Debian's prometheus package (apt-get download prometheus)"; exit 1; fi; \
	$@ --version | head -1

# tmux, in which the test of warden progress's terminal view runs it
# (WARDEN_TMUX=1 makes a missing tmux fail that test): Debian's package,
# installed when missing (as root), the package lists updated first.
need-tmux:
	@command -v tmux >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "tmux is missing: install it (as root on Debian: apt-get install tmux)" >&2; exit 1; fi; \
	  echo "installing Debian's tmux" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tmux >/dev/null; }
	@tmux -V

# The cluster system tests again with mutual TLS (and hostname
# verification) on every agent's cluster port.
test-tls:
	WARDEN_TEST_TLS=1 $(GO) test -count=1 -p 1 -timeout 30m ./cluster/

# The deployment artifacts (deploy/, a Go module of its own): the systemd
# unit (systemd-analyze), the image (read back, and run under podman), the
# Kubernetes manifests (strictly decoded), make dist's archives and
# packages, and local-cluster.sh (a server SIGKILLed and restarted).
# deploy/setup.sh installs the tools; a missing one fails the suite.
test-deploy: image
	deploy/setup.sh
	$(MAKE) --no-print-directory dist DIST=bin/test-dist
	cd deploy && $(GO) vet ./...
	cd deploy && WARDEN_DEPLOY_REQUIRE=1 WARDEN_BIN=$(CURDIR)/bin/linux-$(IMAGE_ARCH)/warden \
	  WARDEN_IMAGE=$(abspath $(IMAGE)) WARDEN_DIST=$(CURDIR)/bin/test-dist \
	  $(GO) test -count=1 -p 1 -timeout 5m ./...

# The examples of the README and the clients' READMEs, run against a dev
# agent (systest/readme: every shell block not marked
# <!-- not-tested: REASON -->, and the "run" programs); test-go runs it
# too, as part of ./... . It prints what it ran and skipped.
test-readme:
	$(GO) test -count=1 -timeout 5m -v -run 'TestREADMEExamples|TestAgentFlagsDocumented|TestParse' ./systest/readme/

# ZooKeeper's own clients, unchanged, against a ZooKeeper-protocol target
# (systest/zkcompat, docs/zookeeper-tests.md): a differential transcript
# through go-zookeeper compared with a real ZooKeeper's (golden), kazoo's
# recipes, zkCli, and Curator's recipes. ZK_TARGET=warden (the default)
# runs them against a 3-server Warden cluster with --zk-port;
# ZK_TARGET=zookeeper against a real ZooKeeper (the reference), both for
# both. install.sh installs Debian's zookeeper and maven when missing.
# make test runs it against Warden.
ZK_TARGET ?= warden
test-zk:
	systest/zkcompat/install.sh
	ZK_TARGET=$(ZK_TARGET) $(GO) test -count=1 -p 1 -timeout 30m -v \
	  -run 'TestDifferential|TestKazoo|TestZkCli|TestCurator|TestGoZooKeeper|TestMixedFleet' ./systest/zkcompat/

test-python: build
	WARDEN_BIN=$(CURDIR)/$(BIN) clients/python/test.sh

test-typescript: build
	WARDEN_BIN=$(CURDIR)/$(BIN) clients/typescript/test.sh

# The protocol's description and what is generated from it: the wire
# package's golden test rewrites testdata/protocol/v1-ops.json from the op
# table (localapi/wire/ops.go), then the generator writes the Python and
# TypeScript clients' tables from it. A test fails while either is stale.
# The nemesis suite (systest/nemesis, docs/nemesis.md): a fresh cluster in
# a network namespace of its own, clients on every agent, and at random
# SIGKILLs (of any agent, of the leader), SIGSTOPs and partitions; then
# linearizability, monotonic reads, lock safety, durability, liveness and
# clean shutdown are checked. Needs root. `make nemesis` is the short run
# of make test: three histories of 20 s, on 5 servers, on 3 servers and 2
# replicas, on 5 servers. NEMESIS_ARGS adds flags (-seed N repeats a run's
# choices).
NEMESIS := bin/nemesis
NEMESIS_ARGS ?=
HISTORIES ?= 100
nemesis: build
	$(GO) build -o $(NEMESIS) ./systest/nemesis
	./$(NEMESIS) -warden $(BIN) -histories 3 -topologies 5,3+2 -duration 20s -interval 1s $(NEMESIS_ARGS)

# HISTORIES histories (100 by default, about 50 minutes), alternating the
# two topologies; the summary it ends with is the table in docs/reliability.md.
nemesis-long: build
	$(GO) build -o $(NEMESIS) ./systest/nemesis
	./$(NEMESIS) -warden $(BIN) -histories $(HISTORIES) -topologies 5,3+2 -duration 20s -interval 1s $(NEMESIS_ARGS)

# Each planted bug must make its checker fail the run (exit 1).
nemesis-plants: build
	$(GO) build -o $(NEMESIS) ./systest/nemesis
	@for p in read-without-sync:partition-one no-fencing:pause-holder phantom-ack:kill; do \
	  plant=$${p%%:*}; faults=$${p##*:}; \
	  echo "== plant $$plant (faults: $$faults)"; \
	  ./$(NEMESIS) -warden $(BIN) -servers 3 -duration 30s -interval 1s -plant $$plant -faults $$faults; rc=$$?; \
	  if [ $$rc -ne 1 ]; then echo "plant $$plant: exit $$rc, want 1 (a checker failing)"; exit 1; fi; \
	done; echo "every planted bug was caught"

generate:
	$(GO) test ./localapi/wire -run Golden -count=1 -update
	$(GO) run ./localapi/wire/internal/gen

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd bench/peers && $(GO) vet ./...

# Runs each fuzz target for FUZZTIME (default 30s): the local protocol's
# frame and request decoders, and the cluster port's RPC decoder.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run x -fuzz FuzzReadFrame -fuzztime $(FUZZTIME) ./localapi/wire/
	$(GO) test -run x -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME) ./localapi/wire/
	$(GO) test -run x -fuzz FuzzReadRPC -fuzztime $(FUZZTIME) ./cluster/

# ConfigEvents runs a fixed count: at 2 s its untimed setup (one set per
# event, b.N of them) would take minutes.
bench:
	$(GO) test -run x -bench . -skip ConfigEvents -benchtime 2s ./fsm/ ./bench/
	$(GO) test -run x -bench ConfigEvents -benchtime 20000x ./bench/

# Lock cycles and config-event throughput through each client, side by side.
bench-clients: build
	$(GO) test -run x -bench 'LockCycle$$/clients=1$$' -benchtime 2000x ./bench/
	$(GO) test -run x -bench ConfigEvents -benchtime 20000x ./bench/
	WARDEN_BIN=$(CURDIR)/$(BIN) clients/python/.venv/bin/python clients/python/bench.py
	cd clients/typescript && WARDEN_BIN=$(CURDIR)/$(BIN) npm run --silent bench

# Warden side by side with ZooKeeper and etcd (bench/peers, a Go module of
# its own; docs/bench-peers.md): a fresh 3-node cluster of each per
# workload on loopback addresses, the same workloads through each one's
# usual Go client; a table of medians and Warden/best-peer ratios, and
# JSON lines in PEERS_OUT. Installs Debian's zookeeper and etcd-server
# when missing (their services never run). PEERS_ARGS adds flags, e.g.
# PEERS_ARGS='-runs 3' or '-workloads write,read -clients 16'. It takes a
# while (the full sweep is about an hour): run it on an idle machine.
PEERS_ARGS ?=
PEERS_OUT  ?= bench-peers.jsonl
bench-peers: build
	bench/peers/install-peers.sh
	cd bench/peers && $(GO) build -o ../../bin/bench-peers ./cmd/bench-peers
	./bin/bench-peers -warden $(BIN) -out $(PEERS_OUT) $(PEERS_ARGS)

# A 3-server cluster under a steady mixed load for DURATION, sampled every
# 10 s; writes $(OUT)/soak.jsonl, soak.svg and soak.png; fails if
# throughput falls or memory keeps growing (see bench/soak). make test runs
# a 60 s variant.
DURATION ?= 10m
OUT      ?= soak-out
soak: build
	WARDEN_SOAK_DURATION=$(DURATION) WARDEN_SOAK_OUT=$(abspath $(OUT)) $(GO) test -run TestSoak -count=1 -v -timeout 0 ./bench/soak/

clean:
	rm -rf bin $(DIST)
