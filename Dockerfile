# syntax=docker/dockerfile:1
# Builds statesight-server and statesight-worker: `docker build --target server|worker`.
# Bases are pinned to exact releases; bump them deliberately (and rebuild for security fixes).
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && cp target/release/statesight-server target/release/statesight-worker /out/

FROM debian:12.11-slim AS runtime
# git reads desired state. For `kubectl` clusters and kustomize sources mount a kubectl
# binary and set KUBECTL_BIN.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 statesight \
 && useradd --system --uid 10001 --gid 10001 --create-home statesight
# The same numeric user as the Kubernetes manifests' runAsUser, so runAsNonRoot can check it.
USER 10001:10001
WORKDIR /home/statesight

FROM runtime AS server
COPY --from=build /out/statesight-server /usr/local/bin/
COPY --chown=10001:10001 examples /home/statesight/examples
EXPOSE 8080
ENTRYPOINT ["statesight-server"]
CMD ["serve"]

FROM runtime AS worker
COPY --from=build /out/statesight-worker /usr/local/bin/
EXPOSE 9091
ENTRYPOINT ["statesight-worker"]
CMD ["run"]
