# syntax=docker/dockerfile:1
# The indexer as a small, static, non-root image: `docker build -t vizjob/indexer .`
# One binary serves every command: `run` (the default), `simulate`, `migrate`, `sync`, `demo`.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/indexer ./cmd/indexer

# distroless/static: CA certificates and time zones, no shell; runs as uid 65532 (nonroot).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/indexer /usr/local/bin/indexer
USER nonroot:nonroot
# 8080: /healthz /readyz /metrics (indexer run); 8081: the simulator (indexer simulate).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/indexer"]
CMD ["run"]
