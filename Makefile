# canarygate — run `make help` for the targets.

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
GOLANGCI  := $(BIN)/golangci-lint

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/canarygate
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/canarygate ./cmd/webhook

.PHONY: test
test: controlplane helm ## Run every test: unit, scenario, Rego, fuzz seeds, a benchmark smoke, the e2e and deploy suites on a real control plane
	$(GO) test -count=1 ./...
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./pkg/validate/
	$(GO) test -count=1 -tags e2e -timeout 30m ./test/e2e/... -ginkgo.v
	cd test/deploy && $(GO) test -count=1 -timeout 20m ./... -ginkgo.v

.PHONY: unit
unit: controlplane helm ## Run the tests outside the e2e suite (the chart test renders with bin/helm and kubectl)
	$(GO) test -count=1 ./...

.PHONY: e2e
e2e: controlplane ## Run the e2e suite against a real kube-apiserver
	$(GO) test -count=1 -tags e2e -timeout 30m ./test/e2e/... -ginkgo.v

.PHONY: helm
helm: ## Build helm (pinned in hack/helm/go.mod) into bin/helm (once)
	@bash hack/helm/build.sh $(BIN)/helm

.PHONY: deploy-test
deploy-test: controlplane helm ## Prove config/webhook and the chart against a real kube-apiserver, cert-manager's CRDs and CA injector
	cd test/deploy && $(GO) test -count=1 -timeout 20m ./... -ginkgo.v

.PHONY: controlplane
controlplane: ## Build etcd, kube-apiserver, kube-controller-manager and kubectl into bin/controlplane (once)
	@bash hack/controlplane/build.sh $(BIN)/controlplane

.PHONY: bench
bench: controlplane opa gatekeeper ## Run every benchmark (~13 min on 2 cores) and write docs/performance.md; not part of make test
	cd hack/bench && $(GO) run . -duration 30s -repeat 2 -scale -bench-count 3 -profile bin/bench-profiles -out docs/performance.md

.PHONY: gatekeeper
gatekeeper: ## Build bin/gatekeeper (Gatekeeper, pinned in hack/gatekeeper/go.mod) for the benchmarks
	@bash hack/gatekeeper/build.sh $(BIN)/gatekeeper

.PHONY: opa
opa: ## Build bin/opa (the OPA release canarygate embeds) for the benchmarks
	@bash hack/opa/build.sh $(BIN)/opa

# FUZZ_TARGETS are package:Target pairs; go test -fuzz takes one target per run.
FUZZ_TARGETS := ./pkg/canary:FuzzNginxRoundTrip ./pkg/canary:FuzzFromNginx \
	./pkg/webhook:FuzzAdmissionHandler ./pkg/validate:FuzzInputBuilder

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s); a crash is saved under the package's testdata/fuzz
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg)"; \
		$(GO) test $$pkg -run='^$$' -fuzz="^$$name$$" -fuzztime=$${FUZZTIME:-30s} || exit 1; \
	done

.PHONY: soak
soak: controlplane ## Hold canarygate serve under a steady mixed load for SOAK_DURATION (default 10m): memory, goroutines, errors (not in make test)
	$(GO) run ./hack/soak -root $(CURDIR) -duration $${SOAK_DURATION:-10m}

.PHONY: lint
lint: $(GOLANGCI) ## gofmt, go vet and golangci-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI) run ./...
	cd hack/bench && $(GO) vet ./... && $(GOLANGCI) run --config ../../.golangci.yml ./...

$(GOLANGCI): hack/tools/go.mod
	@echo "building golangci-lint into bin/ (first time only; takes a few minutes)"
	cd hack/tools && $(GO) build -o $(GOLANGCI) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: demo
demo: controlplane ## Play the v1 -> v2 release on a local control plane with canarygate serve (KEEP=1 leaves it running)
	$(GO) run ./hack/demo -root $(CURDIR) $(if $(KEEP),-keep)

.PHONY: demo-check
demo-check: build ## Replay the reference release offline through canarygate check, with narration
	@bash hack/demo.sh $(BIN)/canarygate

IMAGE ?= ghcr.io/canarygate/canarygate:$(VERSION)

.PHONY: image
image: ## Build the container image (needs a Docker engine; not verified in this repository's CI)
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

.PHONY: clean
clean: ## Remove build outputs
	rm -rf $(BIN)
