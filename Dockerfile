# syntax=docker/dockerfile:1
#
# The grpclb CLI (proxy, resolve, bench, lab...) as a static binary on
# distroless, running as a non-root user:
#
#   docker build --build-arg VERSION=v0.1.0 -t grpclb:v0.1.0 .
#   docker run --rm grpclb version
#   docker run --rm -v "$PWD/proxy.yaml:/etc/grpclb/proxy.yaml:ro" -p 8443:8443 \
#     grpclb proxy --config /etc/grpclb/proxy.yaml
#
# The build stage runs scripts/build-static.sh, so the flags are in that one
# place. .git is not sent (.dockerignore): `grpclb version` reports the
# VERSION build argument instead of a VCS revision. CI builds this file with
# buildah (scripts/image.sh).

FROM golang:1.26-bookworm AS build
ARG VERSION=
WORKDIR /src
# The whole workspace: go.work at the root names every module it builds from.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GRPCLB_VERSION="$VERSION" ./scripts/build-static.sh /out/grpclb

# distroless/static: CA certificates, tzdata and /etc/passwd, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/grpclb /grpclb
# nonroot, numerically, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
# The proxy's gRPC and admin (/metrics, /healthz, /readyz) ports in
# deploy/kubernetes; the config sets them.
EXPOSE 8443 9090
ENTRYPOINT ["/grpclb"]
CMD ["--help"]
