# Builds statesight-server and statesight-worker. `docker compose` picks a target per service.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins \
 && mkdir -p /out && cp target/release/statesight-server target/release/statesight-worker /out/

FROM debian:bookworm-slim AS runtime
# git reads desired state; mount a kubectl binary and set KUBECTL_BIN for kubectl clusters.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/* && useradd --system --create-home statesight
USER statesight
WORKDIR /home/statesight

FROM runtime AS server
COPY --from=build /out/statesight-server /usr/local/bin/
COPY --chown=statesight examples /home/statesight/examples
EXPOSE 8080
ENTRYPOINT ["statesight-server"]
CMD ["serve"]

FROM runtime AS worker
COPY --from=build /out/statesight-worker /usr/local/bin/
ENTRYPOINT ["statesight-worker"]
