# mnmfa container: built with the same scripts/install-deps and `make` as CI.
#   docker build -t mnmfa .
#   docker run -p 443:443 -p 8000:8000 -v mnmfa-certs:/var/lib/mnmfa/certs \
#     -v mnmfa-data:/var/lib/mnmfa/data -e MNMFA_WHATSAPP_NUMBER=+5215550000000 mnmfa

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make clean && make && make install PREFIX=/usr/local DESTDIR=/out

FROM debian:bookworm-slim
COPY scripts/install-deps /usr/local/share/mnmfa/install-deps
RUN /usr/local/share/mnmfa/install-deps --runtime \
 && apt-get install -y --no-install-recommends libcap2-bin curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/mnmfa --shell /usr/sbin/nologin mnmfa \
 && mkdir -p /var/lib/mnmfa/certs /var/lib/mnmfa/data \
 && chown -R mnmfa:mnmfa /var/lib/mnmfa
COPY --from=build /out/usr/local/bin/mnmfa /usr/local/bin/mnmfa
# Bind 443 without root: the file capability, nothing else.
RUN setcap cap_net_bind_service=+ep /usr/local/bin/mnmfa
USER mnmfa
WORKDIR /var/lib/mnmfa
ENV MNMFA_WEB_PORT=443 \
    MNMFA_API_PORT=8000 \
    MNMFA_TLS_CERT=/var/lib/mnmfa/certs/cert.pem \
    MNMFA_TLS_KEY=/var/lib/mnmfa/certs/key.pem \
    MNMFA_DB_PATH=/var/lib/mnmfa/data/logs.db
EXPOSE 443 8000
VOLUME ["/var/lib/mnmfa/certs", "/var/lib/mnmfa/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD curl -fsk https://127.0.0.1:443/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/mnmfa"]
CMD ["serve"]
