# wmr — see README.md. `make demo` and `make test` are the two commands a new user runs.
SHELL := /bin/bash
GO ?= go
BIN := bin/wmr
EXAMPLES_OUT := build/examples
GO_EXAMPLES := wordcount sumsquares evenyears grep indexer
HOSTILE := loop membomb trap malformed flood
TESTING := manyvalues sandbox slowwords

.PHONY: all build examples test vet bench demo fuzz clean

all: build examples

build:
	$(GO) build -o $(BIN) ./cmd/wmr

examples:
	@mkdir -p $(EXAMPLES_OUT)
	@cd examples-wasm && for ex in $(GO_EXAMPLES); do \
		echo "build $(EXAMPLES_OUT)/$$ex-go.wasm"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o ../$(EXAMPLES_OUT)/$$ex-go.wasm ./$$ex/go || exit 1; \
	done
	@cd examples-wasm && for h in $(HOSTILE); do \
		echo "build $(EXAMPLES_OUT)/hostile-$$h-go.wasm"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o ../$(EXAMPLES_OUT)/hostile-$$h-go.wasm ./hostile/$$h || exit 1; \
	done
	@cd examples-wasm && for h in $(TESTING); do \
		echo "build $(EXAMPLES_OUT)/testing-$$h-go.wasm"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o ../$(EXAMPLES_OUT)/testing-$$h-go.wasm ./testing/$$h || exit 1; \
	done

# The whole suite: vet (host and guest code), then every test with the race
# detector. Tests build the example modules they need themselves.
test: vet
	$(GO) test -race -timeout 30m ./...

vet:
	$(GO) vet ./...
	cd examples-wasm && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...
	@test -z "$$(gofmt -l $$(find . -name '*.go' -not -path './build/*' -not -path '*/node_modules/*'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# A real job end to end: word count over the Go specification and memory
# model (shipped with every Go installation), then the top words, then the
# sum of squares of 0..10 through the reduce tree; then the same word count
# on a local 3-node cluster (scripts/demo-cluster.sh), whose nodes it stops.
DEMO := build/demo
demo: build examples
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

# Throughput against a native Go word count on the same data and cores,
# in-process close-on-done for comparison, and peak memory. BENCH_SIZE sets
# the corpus size in bytes (default 256 MB).
BENCH_SIZE ?= 256000000
bench: build examples
	$(GO) run ./cmd/wmr-bench -size $(BENCH_SIZE)
	$(GO) test -run '^$$' -bench . -benchmem ./abi ./sdk/go ./engine/runs

# Run every fuzzer for FUZZTIME each (their seed corpora also run in make test).
FUZZTIME ?= 20s
fuzz:
	@for f in FuzzBatchReader FuzzGroupReader FuzzContinuation FuzzDecodeFail FuzzDecoderSkip; do \
		$(GO) test ./abi -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

clean:
	rm -rf bin build
