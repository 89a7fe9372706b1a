# One static binary on a minimal non-root base; no shell at run time.
# make image builds it; the binary is the one `make build` makes.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/neo4j-backup ./cmd/neo4j-backup

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/neo4j-backup /neo4j-backup
USER 65532:65532
ENTRYPOINT ["/neo4j-backup"]
