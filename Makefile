# make demo   the whole job on a local control plane and S3 server
# make test   every test, with the race detector, on real kube-apiserver, etcd,
#             kube-controller-manager and S3 servers
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE ?= ghcr.io/neo4j-backup/neo4j-backup:$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

# The real servers the tests run against, built once from the Go module proxy
# into ~/.cache/neo4j-backup (about 30 minutes the first time, then instant).
# Set these variables to use binaries of your own.
# kubectl comes from the machine, else it is built into the cache too.
KUBECTL_PATH := PATH=$$(command -v kubectl >/dev/null 2>&1 || echo "$$(hack/tools.sh kubectl):")$$PATH
SERVERS := $(KUBECTL_PATH) KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(hack/tools.sh control-plane)} \
	NEO4J_BACKUP_VERSITYGW=$${NEO4J_BACKUP_VERSITYGW:-$$(hack/tools.sh versitygw)/versitygw} \
	NEO4J_BACKUP_MINIO=$${NEO4J_BACKUP_MINIO:-$$(hack/tools.sh minio)/minio} \
	NEO4J_BACKUP_PROMTOOL=$${NEO4J_BACKUP_PROMTOOL:-$$(hack/tools.sh promtool)/promtool}

.PHONY: build test fuzz lint demo bench bench-transfer image deploy tools

build:
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o bin/neo4j-backup ./cmd/neo4j-backup

# make install builds the binary into $(PREFIX)/bin as neo4j-backup, links it
# as kubectl-neo4j_backup, the name kubectl runs for `kubectl neo4j-backup …`
# (the binary names itself after how it was run), and adds
# kubectl_complete-neo4j_backup, which kubectl asks to complete its words.
# PREFIX is ~/.local, whose bin/ is on PATH on most systems and needs no
# root; PREFIX=/usr/local installs for every user.
PREFIX ?= $(HOME)/.local

.PHONY: install
install:
	mkdir -p "$(PREFIX)/bin"
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o "$(PREFIX)/bin/neo4j-backup" ./cmd/neo4j-backup
	ln -sf neo4j-backup "$(PREFIX)/bin/kubectl-neo4j_backup"
	printf '%s\n' '#!/bin/sh' '# kubectl neo4j-backup <Tab>: kubectl runs this for the completions.' \
		'exec "$$(dirname "$$0")/kubectl-neo4j_backup" __complete "$$@"' > "$(PREFIX)/bin/kubectl_complete-neo4j_backup"
	chmod 0755 "$(PREFIX)/bin/kubectl_complete-neo4j_backup"
	@echo "installed neo4j-backup and the kubectl plugin (kubectl neo4j-backup) into $(PREFIX)/bin"

test: lint
	$(SERVERS) go test -race -count=1 -timeout 25m ./...
	$(MAKE) fuzz

# Every fuzz target, package:Name, each fuzzed for FUZZTIME after the tests
# (go test fuzzes one target per run). What a target finds is written under
# its package's testdata/fuzz/, where the tests run it from then on.
FUZZTIME ?= 5s
FUZZ_TARGETS := \
	annotations:FuzzValidateAnnotation annotations:FuzzReadRestore \
	storage:FuzzDecodeManifest storage:FuzzManifestPaths \
	webhook:FuzzPodInjector webhook:FuzzPodAdmission webhook:FuzzPodSettings \
	webhook:FuzzStatefulSetAdmission webhook:FuzzStatefulSetSettings webhook:FuzzAdmissionReviewBody

# Go 1.26's fuzzing coordinator can fail a run that found nothing with a
# bare "context deadline exceeded" as FUZZTIME ends (go.dev/issue/75804,
# fixed in Go 1.27): such a run counts as passed; one that writes a failing
# input, or fails otherwise, fails.
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=./$${t%%:*}/ name=$${t#*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		out=$$(go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) && { tail -n 1 <<<"$$out"; continue; }; \
		if ! grep -q 'Failing input written' <<<"$$out" && grep -qx '    context deadline exceeded' <<<"$$out"; then \
			echo "$$name found nothing; its run ended in Go's fuzz deadline race (go.dev/issue/75804)"; continue; \
		fi; \
		echo "$$out"; exit 1; \
	done

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...

demo:
	$(KUBECTL_PATH) go run ./demo

bench:
	go test -run '^$$' -bench . -benchmem ./webhook/
	$(SERVERS) go test -run '^$$' -bench Scale -benchtime 1x ./backup/

bench-transfer:
	bench/transfer.sh

.PHONY: bench-faults bench-chains
bench-faults:
	bench/faults.sh

bench-chains:
	bench/chains.sh

image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

deploy:
	kubectl apply -k manifests/default

tools:
	@$(SERVERS) env | grep -E '^(KUBEBUILDER_ASSETS|NEO4J_BACKUP_)'

