# CredProxy image: the Bun-compiled binary on distroless base-debian12.
#
#   docker build -t credproxy .                          # serve, runs as nonroot (65532)
#   docker build -t credproxy-sidecar --target sidecar . # metadata endpoint, runs as root
#
# The sidecar adds 169.254.170.2 to lo and listens on port 80, so it runs as root with
# one capability added: docker run --cap-add NET_ADMIN (Compose: cap_add: [NET_ADMIN]).
# Nothing else needs privileges.
#
# distroless publishes only moving tags (latest, nonroot, debug). For reproducible builds
# pin the digest: `docker buildx imagetools inspect gcr.io/distroless/base-debian12:nonroot`
# prints it; then build with
#   --build-arg DISTROLESS=gcr.io/distroless/base-debian12:nonroot@sha256:<digest>
ARG DISTROLESS=gcr.io/distroless/base-debian12:nonroot

# npm ci installs the Bun version that package-lock.json pins, as CI does.
FROM node:22.12.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# .git is not in the build context, so the commit comes in as a build argument:
#   docker build --build-arg COMMIT=$(git rev-parse --short=12 HEAD) .
ARG COMMIT=unknown
ARG TARGETARCH
RUN CREDPROXY_COMMIT="$COMMIT" bash scripts/build \
 && cp "dist/credproxy-linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)" /credproxy

# A statically linked BusyBox; its ip applet needs no library that distroless lacks,
# unlike iproute2's ip (libbpf, libelf, libmnl, libcap).
FROM debian:12.11-slim AS busybox
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends busybox-static \
 && rm -rf /var/lib/apt/lists/*

FROM ${DISTROLESS} AS sidecar
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="credproxy-sidecar" \
      org.opencontainers.image.description="CredProxy metadata endpoint sidecar: serves 169.254.170.2 and forwards to a CredProxy" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /credproxy /usr/local/bin/credproxy
# distroless has no shell to make a symlink, and BusyBox picks its applet from argv[0], so
# a copy of the binary named ip is ip.
COPY --from=busybox /bin/busybox /usr/local/bin/ip
USER 0:0
ENTRYPOINT ["/usr/local/bin/credproxy"]
CMD ["sidecar", "--upstream", "http://127.0.0.1:1338"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/credproxy", "healthcheck", "--url", "http://127.0.0.1/health"]

FROM ${DISTROLESS} AS serve
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="credproxy" \
      org.opencontainers.image.description="Local AWS credential server for containers: serves assumed-role credentials the way ECS does" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /credproxy /usr/local/bin/credproxy
USER 65532:65532
EXPOSE 1338
ENTRYPOINT ["/usr/local/bin/credproxy"]
CMD ["serve", "--config", "/etc/credproxy/credproxy.yaml"]
# healthcheck probes http://127.0.0.1:${CREDPROXY_PORT:-1338}/health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/credproxy", "healthcheck"]
