# mnmfa container: built with the same scripts/install-deps and `make` as CI.
#   docker build -t mnmfa .
#   docker run -d --name mnmfa --cap-drop ALL --security-opt no-new-privileges \
#     -p 443:443 -p 8000:8000 -v mnmfa-certs:/var/lib/mnmfa/certs -v mnmfa-data:/var/lib/mnmfa/data \
#     -e MNMFA_API_KEYS=change-me -e MNMFA_WHATSAPP_NUMBER=+5215550000000 mnmfa
# API keys are required here: the host's requests reach the container from the bridge's gateway,
# not from loopback, and without keys the API answers loopback only. deploy/compose.yaml runs one
# node the same way. The process runs as uid/gid 10001 (chown bind mounts to it) and needs no
# capability: Docker lets it bind 443 inside the container's own network namespace. Only with
# `--network host` is a port below 1024 a privilege (see the README).
# BASE lets `make image-test` build from a base image made with debootstrap; the default is the
# usual one.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN apt-get update && scripts/install-deps --build
COPY . .
RUN make clean && make && make install PREFIX=/usr/local DESTDIR=/out \
 && strip /out/usr/local/bin/mnmfa

FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
COPY scripts/install-deps /usr/local/share/mnmfa/install-deps
RUN apt-get update && /usr/local/share/mnmfa/install-deps --runtime \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 mnmfa \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/mnmfa \
      --shell /usr/sbin/nologin mnmfa \
 && mkdir -p /var/lib/mnmfa/certs /var/lib/mnmfa/data \
 && chown -R 10001:10001 /var/lib/mnmfa
COPY --from=build /out/usr/local/bin/mnmfa /usr/local/bin/mnmfa
USER 10001:10001
WORKDIR /var/lib/mnmfa
ENV MNMFA_WEB_PORT=443 \
    MNMFA_API_PORT=8000 \
    MNMFA_TLS_CERT=/var/lib/mnmfa/certs/cert.pem \
    MNMFA_TLS_KEY=/var/lib/mnmfa/certs/key.pem \
    MNMFA_DB_PATH=/var/lib/mnmfa/data/logs.db
EXPOSE 443 8000
VOLUME ["/var/lib/mnmfa/certs", "/var/lib/mnmfa/data"]
# `mnmfa health` reads the same MNMFA_* variables (and MNMFA_CONFIG file) as the daemon, so a
# changed port is followed; flags given to `serve` are not seen by it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/mnmfa", "health"]
ENTRYPOINT ["/usr/local/bin/mnmfa"]
CMD ["serve"]
