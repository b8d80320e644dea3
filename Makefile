# Warden: `make run` starts a dev agent, `make test` runs every test.

GO      ?= go
BIN     := bin/warden
SOCKET  ?= /tmp/warden.sock
PKGS    := ./...

.PHONY: all build run test vet fuzz bench clean cluster cluster-stop

all: build

build:
	$(GO) build -o $(BIN) ./cmd/warden

# A single dev server with its data in a temporary folder; Ctrl-C stops it.
run: build
	./$(BIN) agent --dev --socket $(SOCKET)

# A local cluster of 3 servers and 2 replicas on 127.0.0.11-13 and
# 127.0.0.21-22 (default ports), state in .cluster/.
cluster: build
	deploy/local-cluster.sh start

cluster-stop:
	deploy/local-cluster.sh stop

# Every test, with the race detector; fuzz targets run their seed corpora.
# Packages run one at a time (-p 1): many tests start real agent processes
# and assert latencies, which a second package's agents would disturb on a
# small machine.
test: vet
	$(GO) test -race -count=1 -p 1 -timeout 30m $(PKGS)

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run x -fuzz FuzzReadFrame -fuzztime $(FUZZTIME) ./localapi/wire/
	$(GO) test -run x -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME) ./localapi/wire/

bench:
	$(GO) test -run x -bench . -benchtime 2s ./fsm/ ./bench/

clean:
	rm -rf bin
