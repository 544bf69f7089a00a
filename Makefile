# wmr — see README.md. `make demo` and `make test` are the two commands a new user runs.
SHELL := /bin/bash
GO ?= go
BIN := bin/wmr
EXAMPLES_OUT := build/examples
GO_EXAMPLES := wordcount sumsquares evenyears grep indexer sort teragen terasort teravalidate
HOSTILE := loop membomb trap malformed flood
TESTING := manyvalues sandbox slowwords finish identity

.PHONY: release all build examples go-examples c-examples rust-examples as-examples wat-examples toolchains sdk-test letters test vet bench demo fuzz clean FORCE

all: build examples

build:
	$(GO) build -o $(BIN) ./cmd/wmr

# Example modules in every guest language, to build/examples/<name>-<lang>.wasm
# (lang: go, rust, c, as, wat). `make toolchains` installs the compilers.
C_EXAMPLES := wordcount grep indexer
RUST_EXAMPLES := wordcount grep indexer sort terasort
AS_EXAMPLES := wordcount
WAT_EXAMPLES := sumsquares
CLANG ?= clang-16
C_FLAGS := --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O3 -flto -msimd128 -Wall -Wextra -Werror -Wl,--strip-all -Isdk/c
C_SDK := sdk/c/wmr.h sdk/c/wmr.c sdk/c/wmr_letters.c
# Debian's rustc 1.63 has the wasm32 standard library; rustup's may not.
CARGO := PATH=/usr/bin:$$PATH RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=$(CURDIR)/build/cargo /usr/bin/cargo
ASC := sdk/assemblyscript/node_modules/.bin/asc

examples: go-examples c-examples rust-examples as-examples wat-examples

go-examples: $(GO_EXAMPLES:%=$(EXAMPLES_OUT)/%-go.wasm)
	@cd examples-wasm && for h in $(HOSTILE); do \
		echo "build $(EXAMPLES_OUT)/hostile-$$h-go.wasm"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o ../$(EXAMPLES_OUT)/hostile-$$h-go.wasm ./hostile/$$h || exit 1; \
	done
	@cd examples-wasm && for h in $(TESTING); do \
		echo "build $(EXAMPLES_OUT)/testing-$$h-go.wasm"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o ../$(EXAMPLES_OUT)/testing-$$h-go.wasm ./testing/$$h || exit 1; \
	done

c-examples: $(C_EXAMPLES:%=$(EXAMPLES_OUT)/%-c.wasm)
as-examples: $(AS_EXAMPLES:%=$(EXAMPLES_OUT)/%-as.wasm)
wat-examples: $(WAT_EXAMPLES:%=$(EXAMPLES_OUT)/%-wat.wasm)
rust-examples:
	@mkdir -p $(EXAMPLES_OUT)
	cd examples-wasm && $(CARGO) build -q --offline --release --target wasm32-unknown-unknown
	@for ex in $(RUST_EXAMPLES); do cp build/cargo/wasm32-unknown-unknown/release/$$ex.wasm $(EXAMPLES_OUT)/$$ex-rust.wasm; done

$(EXAMPLES_OUT)/%-c.wasm: examples-wasm/%/c/*.c $(C_SDK)
	@mkdir -p $(EXAMPLES_OUT)
	$(CLANG) $(C_FLAGS) -o $@.$$$$.tmp $(filter %.c,$^) && mv $@.$$$$.tmp $@

$(EXAMPLES_OUT)/%-as.wasm: examples-wasm/%/as/index.ts sdk/assemblyscript/assembly/*.ts | $(ASC)
	@mkdir -p $(EXAMPLES_OUT)
	$(ASC) $< -o $@.$$$$.tmp.wasm -O3 --enable simd && mv $@.$$$$.tmp.wasm $@

$(EXAMPLES_OUT)/%-wat.wasm: examples-wasm/%/wat/*.wat
	@mkdir -p $(EXAMPLES_OUT)
	wat2wasm $< -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

# One module per rule: tests build what they need through these (written
# to a temporary file and renamed, as test processes may build at once).
$(EXAMPLES_OUT)/%-rust.wasm: FORCE
	@mkdir -p $(EXAMPLES_OUT)
	cd examples-wasm && $(CARGO) build -q --offline --release --target wasm32-unknown-unknown -p $*
	cp build/cargo/wasm32-unknown-unknown/release/$*.wasm $@.$$$$.tmp && mv $@.$$$$.tmp $@

$(EXAMPLES_OUT)/%-go.wasm: FORCE
	@mkdir -p $(EXAMPLES_OUT)
	cd examples-wasm && GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o ../$@ ./$*/go

FORCE:

$(ASC):
	cd sdk/assemblyscript && npm install --no-audit --no-fund

# The guest toolchains (clang-16 + wasi-libc, Debian's rustc with the wasm32
# standard library, wabt, AssemblyScript from npm); installs only what is
# missing. Needs root or sudo for apt-get.
toolchains:
	@scripts/toolchains.sh

# Each SDK's own tests: Rust natively with cargo, C natively with the host
# compiler against a fake host, AssemblyScript in Node against a fake host.
# The go command runs GOOS=wasip1 test binaries with go_wasip1_wasm_exec from
# PATH: ours is internal/wasiexec (wazero, with the wmr host functions stubbed).
WASIEXEC := build/wasiexec/go_wasip1_wasm_exec
GO_WASM_TEST = PATH=$(CURDIR)/build/wasiexec:$$PATH GOOS=wasip1 GOARCH=wasm $(GO) test
$(WASIEXEC): FORCE
	$(GO) build -o $@ ./internal/wasiexec

sdk-test: toolchains $(WASIEXEC)
	cd sdk/rust && PATH=/usr/bin:$$PATH RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=$(CURDIR)/build/cargo-native /usr/bin/cargo test -q --offline
	@mkdir -p build
	$(CC) -std=c11 -Wall -Wextra -Werror -DWMR_NATIVE -Isdk/c -o build/wmr_c_test sdk/c/test/wmr_test.c sdk/c/wmr.c sdk/c/wmr_letters.c
	./build/wmr_c_test
	cd sdk/assemblyscript && npm test --silent
	@# The Go SDK's tests once more inside WebAssembly (under wazero, as in a
	@# worker), where its hand-written wasm fast paths run.
	cd sdk && $(GO_WASM_TEST) ./go/...

letters:
	$(GO) run ./internal/lettergen

# The whole suite: vet (host and guest code), then every test with the race
# detector. Tests build the example modules they need themselves.
test: toolchains vet sdk-test
	cd abi && $(GO) test -race ./...
	cd sdk && $(GO) test -race ./...
	$(GO) test -race -timeout 50m ./...

# abi and sdk are modules of their own (a job depends on them alone), so
# each is vetted and tested in its directory.
vet:
	$(GO) vet ./...
	cd abi && $(GO) vet ./...
	cd sdk && $(GO) vet ./...
	cd examples-wasm && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...
	@test -z "$$(gofmt -l $$(find . -name '*.go' -not -path './build/*' -not -path '*/node_modules/*'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# A real job end to end: word count over the Go specification and memory
# model (shipped with every Go installation), then the top words, then the
# sum of squares of 0..10 through the reduce tree; then the same word count
# on a local 3-node cluster (scripts/demo-cluster.sh), whose nodes it stops.
DEMO := build/demo
demo: build go-examples
	@rm -rf $(DEMO) && mkdir -p $(DEMO)/books
	@for f in go_spec go_mem asm; do \
		sed -e 's/<[^>]*>/ /g' -e 's/&[a-z]*;/ /g' "$$($(GO) env GOROOT)/doc/$$f.html" > $(DEMO)/books/$$f.txt; \
	done
	@echo "== wmr run wordcount over $$(cat $(DEMO)/books/*.txt | wc -c) bytes of Go documentation"
	./$(BIN) run --wasm $(EXAMPLES_OUT)/wordcount-go.wasm --input $(DEMO)/books/ --output $(DEMO)/counts --reducers 4
	@echo "== top 10 words"
	@cat $(DEMO)/counts/part-r-* | sort -t$$'\t' -k2,2nr -k1,1 > $(DEMO)/top.txt; head -10 $(DEMO)/top.txt
	@seq 0 10 > $(DEMO)/numbers.txt
	@echo "== sum of squares of 0..10 (expect 385)"
	@./$(BIN) run -q --wasm $(EXAMPLES_OUT)/sumsquares-go.wasm --input $(DEMO)/numbers.txt --output $(DEMO)/squares
	@cat $(DEMO)/squares/part-r-00000
	@WMR=./$(BIN) DEMO=$(DEMO) scripts/demo-cluster.sh

# A release in build/release: the wmr binary and each SDK as a package of
# its ecosystem (the AssemblyScript SDK as an npm tarball, the Rust crate
# and the Go SDK with the abi package it builds on as source trees, the C
# SDK's header and sources). `wmr new` writes the same SDKs into a project.
RELEASE := build/release
release: build
	@rm -rf $(RELEASE) && mkdir -p $(RELEASE)/go/sdk $(RELEASE)/c $(RELEASE)/rust
	cp $(BIN) $(RELEASE)/wmr
	cd sdk/assemblyscript && npm pack --silent --pack-destination ../../$(RELEASE) >/dev/null
	cp -r abi $(RELEASE)/go/abi && cp sdk/go.mod $(RELEASE)/go/sdk/ && cp -r sdk/go $(RELEASE)/go/sdk/go
	find $(RELEASE)/go -name '*_test.go' -delete && rm $(RELEASE)/go/abi/sources.go
	cp sdk/c/wmr.h sdk/c/wmr.c sdk/c/wmr_letters.c sdk/c/README.md $(RELEASE)/c/
	cp -r sdk/rust/Cargo.toml sdk/rust/README.md sdk/rust/src $(RELEASE)/rust/
	@echo "release in $(RELEASE): wmr, $$(ls $(RELEASE) | grep tgz), go/abi and go/sdk (use with: go mod edit -replace github.com/wmr-dev/wmr/abi=PATH/go/abi -replace github.com/wmr-dev/wmr/sdk=PATH/go/sdk), rust/ (a path dependency), c/"

# Throughput against a native Go word count on the same data and cores,
# in-process close-on-done for comparison, and peak memory. BENCH_SIZE sets
# the corpus size in bytes (default 256 MB).
BENCH_SIZE ?= 256000000
bench: toolchains build examples $(WASIEXEC)
	$(GO) run ./cmd/wmr-bench -size $(BENCH_SIZE)
	cd abi && $(GO) test -run '^$$' -bench . -benchmem .
	cd sdk && $(GO) test -run '^$$' -bench . -benchmem ./go
	@# The same inside WebAssembly, under wazero as in a worker.
	cd sdk && $(GO_WASM_TEST) -run '^$$' -bench . -benchmem ./go
	$(GO) test -run '^$$' -bench . -benchmem ./engine/runs

# Run every fuzzer for FUZZTIME each (their seed corpora also run in make test).
FUZZTIME ?= 20s
fuzz:
	@for f in FuzzBatchReader FuzzNextKV FuzzGroupReader FuzzContinuation FuzzDecodeFail FuzzDecoderSkip FuzzDecodeInit; do \
		(cd abi && $(GO) test . -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME)) || exit 1; \
	done
	@for f in FuzzHandlers FuzzNames FuzzTenantsFile; do \
		$(GO) test ./nodes -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
	done
	$(GO) test ./engine/wasmhost -run '^$$' -fuzz '^FuzzScanImports$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin build
