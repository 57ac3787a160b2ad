# dvt-cds: a multi-stage build into a small runtime image that runs as a non-root user.
# The knowledge files, the discovery document and the trust profiles are embedded in the binary;
# the image needs only a trust configuration (mounted) and a writable data directory (a volume;
# with DVT_CDS_DATABASE_URL nothing is written there).
#
#   docker build -t dvt-cds .
#   docker run --read-only -v dvt-cds-data:/var/lib/dvt-cds -v ./production.toml:/etc/dvt-cds/production.toml:ro \
#     -p 8080:8080 dvt-cds
#
# No container engine runs where this repository is tested: the image is not built in CI (see README).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so a change to our code does not rebuild them (Cargo wants a file for every
# target the manifests name: the list of benches must follow Cargo.toml). The workspace has two
# crates: the service at the root and the clinical core in crates/dvt-cds-core.
COPY Cargo.toml Cargo.lock ./
COPY crates/dvt-cds-core/Cargo.toml crates/dvt-cds-core/
RUN mkdir -p src benches/common crates/dvt-cds-core/src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && touch crates/dvt-cds-core/src/lib.rs \
    && for bench in jwt_verify classify pipeline service gather stores large_record; do echo 'fn main() {}' > benches/$bench.rs; done \
    && cargo build --release --locked --bin dvt-cds || true
COPY . .
RUN touch src/main.rs src/lib.rs crates/dvt-cds-core/src/lib.rs && cargo build --release --locked --bin dvt-cds

# glibc and libgcc, nothing else: no shell, no package manager. Its `nonroot` user is 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dvt-cds /usr/local/bin/dvt-cds
USER 65532:65532
WORKDIR /var/lib/dvt-cds
VOLUME ["/var/lib/dvt-cds"]
ENV DVT_CDS_DATA_DIR=/var/lib/dvt-cds \
    DVT_CDS_BIND=0.0.0.0:8080 \
    DVT_CDS_CONFIG=/etc/dvt-cds/production.toml \
    DVT_CDS_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dvt-cds"]
CMD ["serve"]
