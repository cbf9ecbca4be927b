# msgfleet: one image for every program of the fleet (planner, sender, reporter, the msgfleet
# CLI and the CoolSMS simulator); docker-compose.yml picks the command per service.
#
#   docker build -t msgfleet .
#   docker run --rm msgfleet msgfleet-sender --config-doc
#
# Stage 1 builds with the Debian -dev packages of scripts/deps.sh; stage 2 holds only the
# runtime libraries, the binaries, schemas/ (for `msgfleet migrate`) and a non-root user.

ARG DEBIAN_IMAGE=debian:bookworm

# ----------------------------------------------------------------------------- build
FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      librdkafka-dev libpq-dev libmariadb-dev libcurl4-openssl-dev libmsgpack-dev \
      libcmocka-dev libmicrohttpd-dev libjansson-dev libyajl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads (.dockerignore keeps build trees and .stack out anyway).
COPY CMakeLists.txt ./
COPY common/ common/
COPY planner/ planner/
COPY sender/ sender/
COPY reporter/ reporter/
COPY tools/ tools/
COPY tests/ tests/
COPY schemas/ schemas/
# Same flags as every other build (-Werror included); only the programs, not the tests.
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build --target msgfleet-planner msgfleet-sender msgfleet-reporter \
      msgfleet coolsms-sim \
 && mkdir -p /out/bin \
 && cp /build/planner/msgfleet-planner /build/sender/msgfleet-sender \
      /build/reporter/msgfleet-reporter /build/tools/msgfleet/msgfleet \
      /build/tools/coolsms-sim/coolsms-sim /out/bin/ \
 && strip --strip-debug /out/bin/*

# ----------------------------------------------------------------------------- sim-relay
# Demo only (docker-compose.yml, service coolsms-sim-relay): coolsms-sim listens on 127.0.0.1
# only, so a TCP relay sharing its network namespace makes it reachable from the senders.
# Not needed against the real CoolSMS.
FROM ${DEBIAN_IMAGE} AS sim-relay
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends socat \
 && rm -rf /var/lib/apt/lists/*
USER nobody

# ----------------------------------------------------------------------------- runtime
# The last stage, so a plain `docker build .` produces it.
FROM ${DEBIAN_IMAGE} AS runtime
# Runtime libraries only. curl (the command, next to libcurl4 which the fleet links anyway) is
# there for the container health checks: `curl -fsS http://127.0.0.1:$MF_HTTP_PORT/healthz`.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      librdkafka1 libpq5 libmariadb3 libcurl4 libmsgpackc2 libmicrohttpd12 libjansson4 libyajl2 \
      libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 msgfleet \
 && useradd --system --uid 10001 --gid msgfleet --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin msgfleet \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/msgfleet/hold
# Layout: /opt/msgfleet/bin next to /opt/msgfleet/schemas, so `msgfleet migrate` finds
# schemas/pg from its own location; MF_SCHEMA_DIR says it explicitly as well.
COPY --from=build /out/bin/ /opt/msgfleet/bin/
COPY schemas/ /opt/msgfleet/schemas/
ENV PATH=/opt/msgfleet/bin:$PATH \
    MF_SCHEMA_DIR=/opt/msgfleet/schemas/pg
# Nothing here is writable by 10001 but /var/lib/msgfleet/hold, the mount point of the
# reporter's spool volume (a named volume starts with this directory's owner and mode); the
# programs write only to stdout/stderr, /tmp and that spool, so docker-compose.yml runs them
# with a read-only root filesystem, no capabilities and no-new-privileges. Secrets never go into the image (ENV/ARG) or the
# command line: they come as files named by <KEY>_FILE.
USER 10001:10001
WORKDIR /opt/msgfleet
# The daemons stop gracefully on SIGTERM (a second one exits at once).
STOPSIGNAL SIGTERM
CMD ["msgfleet", "--help"]
