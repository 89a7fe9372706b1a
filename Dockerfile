# One static binary on a minimal non-root base; no shell at run time.
# `make image` builds it. The binary is built by `make build`, the same
# target and flags as outside Docker.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build VERSION=${VERSION}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/neo4j-backup /neo4j-backup
USER 65532:65532
ENTRYPOINT ["/neo4j-backup"]
