# byoi — build, run and test.
#
#   make run     build everything, fetch iPXE + kernel from Debian packages, serve
#   make test    unit tests (-race) then the QEMU end-to-end suite
#   make bench   byoi against the tools a user would otherwise use
#
# Third-party binaries land in third_party/ (git-ignored), our builds in bin/.

# sudo resets PATH (secure_path) to one without Go's usual home: look there
# too, so that `sudo make run` finds the same go as `make run`.
GO        ?= $(shell command -v go 2>/dev/null || { test -x /usr/local/go/bin/go && echo /usr/local/go/bin/go; } || echo go)
BIN       := bin
# The version stamped into byoi (byoi --version, byoi_build_info): the
# nearest v* tag, else 0.0.0-DATE-COMMIT of the checked-out commit.
GIT_TAG   := $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null)
GIT_DATE  := $(shell git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null)
GIT_REV   := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
VERSION   ?= $(if $(GIT_TAG),$(patsubst v%,%,$(GIT_TAG)),0.0.0-$(or $(GIT_DATE),0)-$(or $(GIT_REV),unknown))
# Debian's version syntax: no "-" inside the upstream part.
DEB_VERSION := $(subst -,~,$(VERSION))
LDFLAGS   := -X main.version=$(VERSION)
# make install: PREFIX for the binary and boot files, DESTDIR to stage.
PREFIX    ?= /usr/local
DESTDIR   ?=
NFPM      := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
TP        := third_party
BOOT      := $(BIN)/boot
STATE     ?= state
# Extra arguments for `byoi serve` in `make run`, e.g. ARGS="--dhcp-mode full".
ARGS      ?=
GOFLAGS_STATIC := CGO_ENABLED=0
E2E_TIMEOUT ?= 60m
# Per test binary; initramfs/image under -race needs ~3 min alone and over
# 10 on a machine loaded by other work.
UNIT_TIMEOUT ?= 20m
FUZZTIME  ?= 10s
FUZZTIME_SHORT ?= 300x
FUZZFLAGS ?=
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v -e '/e2e$$' -e '/packaging$$')

.PHONY: all build fetch run test unit e2e bench lint ci fuzz fuzz-short clean deps-run deps-test boot-files install deb package-test e2e-byolinux \
	test-vm test-cpu fetch-ovmf unit-cpu-run unit-vm-run e2e-run package-test-run

all: build

build: $(BIN)/byoi $(BIN)/byoi-agent boot-files

$(BIN)/byoi: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/byoi

# The agent runs as /init in the installer: static, no cgo.
$(BIN)/byoi-agent: FORCE
	$(GOFLAGS_STATIC) $(GO) build -trimpath -ldflags='-s -w' -o $@ ./cmd/byoi-agent

fetch:
	scripts/fetch-debian.sh $(TP) ipxe linux debian

MODULES_DIR = $$(ls -d $(TP)/linux/lib/modules/* | head -n1)

# Everything `byoi serve` hands to machines: iPXE binaries, kernel, the
# installer initramfs, and the layers iPXE loads after it: tools.img (storage
# tools, for BYOLinux and rescue) and rescue.img (SSH server and repair tools).
boot-files: fetch $(BIN)/byoi $(BIN)/byoi-agent
	mkdir -p $(BOOT)
	cp $(TP)/ipxe/*.efi $(TP)/ipxe/*.kpxe $(BOOT)/
	cp $(TP)/linux/vmlinuz $(BOOT)/vmlinuz
	$(BIN)/byoi initramfs build --agent $(BIN)/byoi-agent \
		--modules-dir $(MODULES_DIR) --output $(BOOT)/initrd.img
	$(BIN)/byoi initramfs layer --name tools --root $(TP)/debian/root \
		--modules-dir $(MODULES_DIR) --output $(BOOT)/tools.img
	$(BIN)/byoi initramfs layer --name rescue --root $(TP)/debian/root --output $(BOOT)/rescue.img

run: deps-run build
	$(BIN)/byoi serve --state-dir $(STATE) --files-dir $(BOOT) $(ARGS)

deps-run:
	scripts/install-deps.sh run

deps-test:
	scripts/install-deps.sh test

# make test runs in two lanes side by side (2 cores, no KVM): the VM lane
# is every test that boots QEMU (e2e/bmc, then the e2e suite), one VM at a
# time, and TCG keeps one core busy; the CPU lane (niced, so that it takes
# what the VMs leave) is the other unit tests with -race, fuzz-short and
# package-test. Output is interleaved line by line; each lane fails the
# run on its own. Everything both lanes read is built first.
test: deps-test build fetch-ovmf deb
	$(MAKE) -j2 --output-sync=line test-vm test-cpu

test-vm:
	$(MAKE) -j1 unit-vm-run e2e-run

test-cpu:
	nice -n 10 $(MAKE) -j1 unit-cpu-run fuzz-short package-test-run

fetch-ovmf:
	scripts/fetch-debian.sh $(TP) ovmf

# Tests that read a real kernel's modules or Debian packages use the ones
# `make fetch` unpacked; the test BMCs' VMs (e2e/bmc) boot OVMF.
UNIT_ENV = BYOI_INTEGRATION=1 BYOI_MODULES_DIR=$$(ls -d $(CURDIR)/$(TP)/linux/lib/modules/* | head -n1) \
	BYOI_DEBIAN_ROOT=$(CURDIR)/$(TP)/debian/root
UNIT_VM_PKGS = $(filter %/e2e/bmc,$(UNIT_PKGS))

unit: fetch fetch-ovmf
	$(UNIT_ENV) $(GO) test -race -count=1 -timeout $(UNIT_TIMEOUT) $(UNIT_PKGS)

unit-cpu-run:
	$(UNIT_ENV) $(GO) test -race -count=1 -timeout $(UNIT_TIMEOUT) $(filter-out $(UNIT_VM_PKGS),$(UNIT_PKGS))

unit-vm-run:
	$(UNIT_ENV) $(GO) test -race -count=1 -timeout $(UNIT_TIMEOUT) $(UNIT_VM_PKGS)

# The e2e suite builds what it needs through this Makefile (see
# e2e/harness.go). The BYOLinux Debian flows are its longest (about 8
# minutes each here); e2e-byolinux runs only them.
E2E_BYOLINUX = ^TestBYOLinux(UEFI|BIOS)$$

e2e: build fetch-ovmf
	$(MAKE) e2e-run

e2e-run:
	BYOI_INTEGRATION=1 BYOI_ROOT=$(CURDIR) $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) ./e2e/

e2e-byolinux: build fetch-ovmf
	BYOI_INTEGRATION=1 BYOI_ROOT=$(CURDIR) $(GO) test -count=1 -v -timeout 60m -run '$(E2E_BYOLINUX)' ./e2e/

# The table, then the load test's progress-latency target (p99 < 50 ms with
# 200 agents), which needs a build without -race and a quiet machine.
bench: deps-test build
	GO=$(GO) BYOI_ROOT=$(CURDIR) $(GO) run ./e2e/bench
	BYOI_LOAD_LATENCY=1 $(GO) test -count=1 -v -run '^TestLoadLatency$$' ./server/http
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkPreflightCost$$' -benchtime 3x ./initramfs/image

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cp go.mod /tmp/byoi.go.mod.bak && cp go.sum /tmp/byoi.go.sum.bak && $(GO) mod tidy && \
		if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changes go.mod/go.sum"; cp /tmp/byoi.go.mod.bak go.mod; cp /tmp/byoi.go.sum.bak go.sum; exit 1; fi

ci: lint test

# Every fuzz target for FUZZTIME each (make fuzz FUZZTIME=2m); make test runs
# each for a fixed count of inputs (fuzz-short) on top of its committed seeds.
# A count, not a duration: go1.26's fuzz coordinator can report a time-based
# deadline as a failure (golang/go#75804, see docs/fuzzing.md).
fuzz-short:
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME_SHORT) FUZZFLAGS="-parallel=1 -fuzzminimizetime=100x"

fuzz:
	@for pkg in $(UNIT_PKGS); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg || exit 1; \
		done; \
	done

# Install byoi as a service: binary, boot files, systemd unit (user byoi,
# CAP_NET_BIND_SERVICE and CAP_NET_RAW, state in /var/lib/byoi), sysusers
# entry, and /etc/byoi/config.yaml unless one exists. With DESTDIR it only
# stages the files; without, it also creates the user and reloads systemd.
install: build
	install -D -m 0755 $(BIN)/byoi $(DESTDIR)$(PREFIX)/bin/byoi
	install -d $(DESTDIR)$(PREFIX)/lib/byoi/boot
	install -m 0644 $(BOOT)/* $(DESTDIR)$(PREFIX)/lib/byoi/boot/
	install -d $(DESTDIR)/etc/systemd/system $(DESTDIR)/usr/lib/sysusers.d $(DESTDIR)/etc/byoi
	sed -e 's|/usr/bin/byoi|$(PREFIX)/bin/byoi|g' -e 's|/usr/lib/byoi/boot|$(PREFIX)/lib/byoi/boot|g' \
		packaging/byoi.service >$(DESTDIR)/etc/systemd/system/byoi.service
	install -m 0644 packaging/sysusers.conf $(DESTDIR)/usr/lib/sysusers.d/byoi.conf
	test -e $(DESTDIR)/etc/byoi/config.yaml || install -m 0640 packaging/config.yaml $(DESTDIR)/etc/byoi/config.yaml
	@if [ -z "$(DESTDIR)" ]; then \
		getent passwd byoi >/dev/null || systemd-sysusers byoi.conf || \
			useradd --system --user-group --home-dir /var/lib/byoi --no-create-home --shell /usr/sbin/nologin byoi; \
		chown root:byoi /etc/byoi/config.yaml; \
		install -d -o byoi -g byoi -m 0700 /var/lib/byoi; \
		systemctl daemon-reload 2>/dev/null || true; \
		echo "byoi installed: set the interface in /etc/byoi/config.yaml, then: systemctl enable --now byoi"; \
	fi

# The Debian package, bin/byoi_VERSION_amd64.deb (nfpm, pinned, run with go run).
deb: build
	DEB_VERSION=$(DEB_VERSION) $(GO) run $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(BIN)/

# The .deb in a clean Debian root: installs, its unit passes
# systemd-analyze verify, the installed byoi serves as its unit says.
package-test: deb
	$(MAKE) package-test-run

package-test-run:
	BYOI_INTEGRATION=1 BYOI_ROOT=$(CURDIR) BYOI_DEB=$(CURDIR)/$$(ls -t $(BIN)/byoi_*.deb | head -n1) BYOI_VERSION=$(VERSION) \
		$(GO) test -count=1 -v -timeout 20m ./packaging/

clean:
	rm -rf $(BIN)

FORCE:
