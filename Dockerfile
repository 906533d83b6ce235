# The smi-bridge image the Helm chart runs (entrypoint: the `smi-bridge` binary).
#   docker build -t ghcr.io/smi-bridge/smi-bridge:0.1.0 .
# Not built by CI (no container builder there): the binary it packages is what CI tests.
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p smi-bridge \
    && install -D target/release/smi-bridge /out/smi-bridge

# glibc + libgcc only (TLS is rustls); runs as uid 65532 like the chart's securityContext.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/smi-bridge /usr/local/bin/smi-bridge
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/smi-bridge"]
