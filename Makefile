# vrouter — see README.md. `make demo` and `make test` need root (network
# namespaces) and the Debian packages of `make deps`.

SHELL   := /bin/bash
GO      ?= go
BIN     := bin/vrouter
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Debian packages the tests and the demo use as real peers.
DEB_PKGS := iproute2 iputils-ping iputils-tracepath traceroute radvd radvdump ndisc6 \
            tshark ndppd netsniff-ng cloud-init procps kmod util-linux systemd
# ...and the service-VM image and its boot test (make image, make e2e-vm).
VM_PKGS  := mmdebstrap extlinux syslinux-common qemu-utils qemu-system-x86 genisoimage \
            e2fsprogs fdisk mount curl
IMAGE    ?= bin/vrouter-bookworm.qcow2

.PHONY: all build test test-unit test-e2e lint fuzz bench demo deps clean image e2e-vm

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/vrouter

# Unit and namespace integration tests (race-enabled), benchmarks compiled
# and run once, then the end-to-end reference scenario. Integration and e2e
# tests run when root and skip with a message otherwise.
test: test-unit test-e2e

test-unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/e2e)
	$(GO) test -count=1 -run='^$$' -bench=. -benchtime=1x $$($(GO) list ./... | grep -v /test/e2e)

test-e2e:
	$(GO) test -count=1 -timeout 20m -v ./test/e2e/... 2>&1 | tee e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|e2e_test.go' ; exit $${PIPESTATUS[0]}

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Each fuzz target for a short while (set FUZZTIME=10m for a real run).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list='^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; done

# Kernel forwarding vs the fast path's datapaths (XDP tier, AF_XDP,
# AF_PACKET), gen -> router -> sink namespaces, generator on CPU0 and router
# on CPU1; v6gen's TX ring, the C reference loop (built with cc when there is
# one) and XDP live frames; results in bench/results/ (bench/report/README.md).
bench:
	$(GO) build -o bin/ ./cmd/v6gen ./bench/cmd/fprouter ./bench/cmd/bench
	bin/bench -bin bin -out bench/results -rounds 3 -trial 3s

# A BIOS-bootable Debian bookworm qcow2 with vrouter baked in (root).
image:
	images/build-image.sh $(IMAGE)

# The "nova boot" simulation: config drive + qemu (TCG) + namespaces.
e2e-vm: image
	VROUTER_E2E_VM=1 VROUTER_IMAGE=$(abspath $(IMAGE)) $(GO) test -count=1 -v -timeout 30m -run '^TestVM$$' ./images/

demo: build
	$(GO) run ./scenario/cmd/vrdemo --vrouter $(BIN)

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS) $(VM_PKGS)

clean:
	rm -rf bin e2e.log
