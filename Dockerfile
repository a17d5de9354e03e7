# syntax=docker/dockerfile:1
#
# canarygate's container image: a static binary on a distroless, non-root
# base. Build from the repository root:
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     -t ghcr.io/canarygate/canarygate:dev .
#
# No container engine runs in canarygate's development environment, so this
# file is not exercised by `make test`; see docs/install.md.

# The builder runs on the build host's platform and cross-compiles (no C
# toolchain needed: CGO_ENABLED=0), so multi-platform builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src

# Dependencies first, so they are cached across source changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/canarygate ./cmd/webhook

# static: no libc, no shell, CA certificates and /etc/passwd only;
# the nonroot tag runs as 65532:65532.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/canarygate /canarygate
USER 65532:65532
ENTRYPOINT ["/canarygate"]
