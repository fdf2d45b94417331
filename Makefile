# Ember's developer entry points. Quick start:
#   make demo   install what running needs, build, start `ember server`, deploy and invoke
#               examples/hello (Ctrl-C stops)
#   make test   install what testing needs too, lint, and run every test, the end-to-end suite
#               included

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
TEST_TIMEOUT ?= 30m
# -p 1: the packages that start servers and sandboxes share this host's cgroups and
# CPUs; one package at a time keeps their figures and deadlines apart.
TEST_FLAGS ?= -p 1

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all setup build demo test vet lint bench clean

all: build

# setup installs what testing needs (scripts/setup test); the demo installs only what running
# needs (scripts/setup run).
setup:
	./scripts/setup test

# ember-init beside ember: the first process of every jail sandbox (see cmd/ember-init).
build:
	$(GO) build -o bin/ember ./cmd/ember
	$(GO) build -o bin/ember-init ./cmd/ember-init

demo:
	./scripts/setup run
	./scripts/demo

vet:
	$(GO) vet ./...

# lint: gofmt, go vet and staticcheck (pinned) must have nothing to say.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

test: setup lint
	$(GO) test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

# Benchmarks: Ember beside shared/bench/floor (when present) and the Runtime Interface Emulator
# (when RIE names a binary you built from its public source); see bench/README.md.
#   make bench RIE=/tmp/aws-lambda-rie                     warm latency and 16-client throughput
#   make bench RIE=/tmp/aws-lambda-rie BENCH_FLAGS="-mode cold"   cold starts
FLOOR ?= $(wildcard ../shared/bench/floor)
RIE ?=
BENCH_FLAGS ?=
bench: build
	$(GO) run ./bench/invoke -ember bin/ember $(if $(FLOOR),-floor $(FLOOR)) $(if $(RIE),-rie $(RIE)) $(BENCH_FLAGS)

clean:
	rm -rf bin
