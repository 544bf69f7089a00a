# wmr — see README.md. `make demo` and `make test` are the two commands a new user runs.
SHELL := /bin/bash
GO ?= go
BIN := bin/wmr
EXAMPLES_OUT := build/examples
GO_EXAMPLES := wordcount sumsquares evenyears grep indexer
HOSTILE := loop membomb trap malformed flood
TESTING := manyvalues

.PHONY: all build examples test test-short race bench demo fuzz clean vet

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

clean:
	rm -rf bin build
