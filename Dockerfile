# airstream: a release build in a full Rust image, run from a slim Debian
# image as a non-root user. The sample providers.d is included; mount your
# own over /app/providers.d.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The airport table, compiled into the binary.
COPY data ./data
# Workspace members (the root Cargo.toml lists them); the build needs each.
COPY crates ./crates
COPY bench/floor ./bench/floor
# The benchmarks the manifest declares: cargo reads them to load it.
COPY benches ./benches
RUN cargo build --release --locked --bin airstream

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin airstream
WORKDIR /app
COPY --from=build /src/target/release/airstream /usr/local/bin/airstream
COPY providers.d ./providers.d
USER airstream
ENV AIRSTREAM_LISTEN=0.0.0.0:3000 \
    AIRSTREAM_LOG__FORMAT=json
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=2s --retries=12 \
  CMD curl -fsS http://127.0.0.1:3000/healthz >/dev/null || exit 1
ENTRYPOINT ["airstream"]
CMD ["serve"]
