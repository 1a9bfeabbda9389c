# vrouter — see README.md. `make demo` and `make test` need root (network
# namespaces); each installs the Debian packages it needs when they are
# missing (packaging/need-debs: one apt-get install of the missing ones, or
# a message naming them and exit 2 when that is not possible).

SHELL   := /bin/bash
GO      ?= go
BIN     := bin/vrouter
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Debian packages the tests and the demo use as real peers.
DEB_PKGS := iproute2 iputils-ping iputils-tracepath traceroute radvd radvdump ndisc6 \
            tshark ndppd netsniff-ng cloud-init procps kmod util-linux systemd \
            isc-dhcp-client dhcpcd-base dnsmasq-base kea-dhcp6-server \
            lintian mmdebstrap genisoimage keepalived nftables
# ...the subset `make demo` needs...
DEMO_PKGS := iproute2 iputils-ping procps radvd
# ...and the service-VM image and its boot test (make image, make e2e-vm).
VM_PKGS  := mmdebstrap extlinux syslinux-common qemu-utils qemu-system-x86 genisoimage \
            e2fsprogs fdisk mount curl
# The VM boot test's own peers beside qemu (the lab around the VM).
VM_TEST_PKGS := iproute2 iputils-ping radvd ndisc6 coreutils isc-dhcp-client
# The DHCPv6 benchmark's peers (make bench-dhcpv6): the servers it compares
# vrouter's with, and Kea's load generator perfdhcp (kea-admin).
BENCH_PKGS := iproute2 util-linux kea-dhcp6-server kea-admin dnsmasq-base
IMAGE    ?= bin/vrouter-bookworm.qcow2
# make e2e-vm boots the image this often and prints median and range.
VM_BOOTS ?= 3
# Installs the packages a target needs when missing, or names them and exits 2.
NEED_DEBS := packaging/need-debs

.PHONY: all build test test-unit test-e2e lint fuzz bench bench-dhcpv6 bench-ha demo deps clean image e2e-vm e2e-clone deb

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/vrouter

# Unit and namespace integration tests (race-enabled), benchmarks compiled
# and run once, then the end-to-end reference scenario. Integration and e2e
# tests run when root and skip with a message otherwise.
test:
	@$(NEED_DEBS) "make test" $(DEB_PKGS)
	$(MAKE) --no-print-directory test-unit test-e2e

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

# DHCPv6 servers under load: vrouter's against Kea (memfile) and dnsmasq,
# server on CPU1, perfdhcp / d6load on CPU0, 3 rounds; results (results.md,
# points.csv, plots) in bench/results/dhcpv6/, report in bench/report/dhcpv6.md.
# Needs root (network namespaces) and the packages of BENCH_PKGS.
bench-dhcpv6:
	@$(NEED_DEBS) "make bench-dhcpv6" $(BENCH_PKGS)
	$(GO) build -o bin/ ./cmd/vrouter ./bench/cmd/d6server ./bench/cmd/d6load ./bench/cmd/dhcpv6bench
	bin/dhcpv6bench -bin bin -out bench/results/dhcpv6 -rounds 3 -trial 2s

# The HA pair's outage figures (bench/report/ha.md): vrouter and keepalived
# + radvd in the same topology, 100 ms and 20 ms adverts, HA_ROUNDS rounds.
# Needs root; run it with no other heavy job on the machine.
HA_ROUNDS ?= 5
bench-ha:
	@$(NEED_DEBS) "make bench-ha" $(DEB_PKGS)
	$(GO) build -o bin/ ./cmd/vrouter
	$(GO) test -c -o bin/e2e.test ./test/e2e
	cd test/e2e && VROUTER_HA_FIGURES=1 VROUTER_HA_BASELINE=1 VROUTER_HA_ROUNDS=$(HA_ROUNDS) \
	  ../../bin/e2e.test -test.run '^TestHAPairFigures$$' -test.v -vrouter ../../bin/vrouter

# bin/vrouter_VERSION_amd64.deb (and the symlink bin/vrouter.deb), built
# with nfpm from a static, stripped binary; VERSION from git describe.
deb:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -s -w' -o bin/deb/vrouter ./cmd/vrouter
	$(GO) run ./packaging/cmd/mkdeb --binary bin/deb/vrouter --out bin --doc OPENSTACK.md

# A BIOS-bootable Debian bookworm qcow2 with the package installed (root).
image: deb
	@$(NEED_DEBS) "make image" $(VM_PKGS)
	VROUTER_DEB=bin/vrouter.deb images/build-image.sh $(IMAGE)

# The "nova boot" simulation: config drive + qemu (TCG) + namespaces.
e2e-vm: image
	@$(NEED_DEBS) "make e2e-vm" $(VM_PKGS) $(VM_TEST_PKGS)
	VROUTER_E2E_VM=1 VROUTER_E2E_VM_BOOTS=$(VM_BOOTS) VROUTER_IMAGE=$(abspath $(IMAGE)) $(GO) test -count=1 -v -timeout 60m -run '^TestVM$$' ./images/

# The new user's first ten minutes in a VM: a plain bookworm image with only
# git, make and Go clones this repository and runs `make demo` (tens of
# minutes under TCG, so not part of .ci/run; figure in the README).
PLAIN_IMAGE ?= bin/plain-bookworm.qcow2
e2e-clone:
	@$(NEED_DEBS) "make e2e-clone" $(VM_PKGS) git
	PLAIN=1 images/build-image.sh $(PLAIN_IMAGE)
	VROUTER_E2E_CLONE=1 VROUTER_PLAIN_IMAGE=$(abspath $(PLAIN_IMAGE)) $(GO) test -count=1 -v -timeout 100m -run '^TestCloneDemo$$' ./images/

demo:
	@$(NEED_DEBS) "make demo" $(DEMO_PKGS)
	$(MAKE) --no-print-directory build
	$(GO) run ./scenario/cmd/vrdemo --vrouter $(BIN)

# Everything every target may need, at once.
deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS) $(VM_PKGS) $(VM_TEST_PKGS) $(BENCH_PKGS)

clean:
	rm -rf bin e2e.log
