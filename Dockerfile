# syntax=docker/dockerfile:1
# One image for every PantheraConnect process; the command selects which one:
#   panthera serve users|catalog|orders|notifications|gateway   (and, as they land,
#   media-worker, web; `panthera backup create` for the backup job).
# Non-root, no compilers, and nothing written outside PANTHERA_DATA_DIR and /tmp, so it
# runs with a read-only root filesystem. Sizes and the offline build: docs/deploy.md.
#
#   docker build -t panthera .                 # needs the package index (PyPI)
#   scripts/container-image                    # offline: wheels built on the host first
#
# checkov:skip=CKV_DOCKER_7:The base is the PYTHON_IMAGE argument, python:3.11-slim-bookworm by default; production builds pin it by digest (docs/deploy.md).
# checkov:skip=CKV_DOCKER_2:Each process's port is chosen by its command; orchestrators probe /healthz and /readyz themselves (Kubernetes probes, the Compose health checks).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Pins: the project's lock file. A `wheelhouse/` in the build context (scripts/container-image
# fills it with `pip wheel` on the host) makes the build use those wheels and no index at all.
# Pins are used without their hashes: in a constraints file a hash would demand one for the
# project itself. The final stage runs code and installs none, so the venv keeps no installer.
ARG CONSTRAINTS=requirements.lock
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY . .
RUN set -eu; \
    index=""; target=.; \
    if ls wheelhouse/panthera-*.whl >/dev/null 2>&1; then \
        index="--no-index --find-links wheelhouse"; target=panthera; \
    fi; \
    sed -e 's/--hash=[^[:space:]]*//g' -e 's/[[:space:]]*\\$//' "$CONSTRAINTS" > /tmp/pins.txt; \
    python3 -m venv /opt/panthera; \
    /opt/panthera/bin/pip install $index --constraint /tmp/pins.txt "$target"; \
    /opt/panthera/bin/pip uninstall --yes pip setuptools >/dev/null 2>&1 || true; \
    /opt/panthera/bin/panthera --help >/dev/null

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="panthera" \
      org.opencontainers.image.description="PantheraConnect: every platform process; the command selects which" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.documentation="docs/deploy.md"
# pg_dump and pg_restore for `panthera backup` (the backup CronJob runs this image): the
# client of the PostgreSQL major the platform is tested on (15); a pg_dump may not be older
# than its server, so set PG_CLIENT for a newer server (Debian bookworm ships 15; newer ones
# come from apt.postgresql.org). PG_CLIENT= (empty) leaves it out.
ARG PG_CLIENT=postgresql-client-15
RUN set -eu; \
    if [ -n "$PG_CLIENT" ]; then \
        apt-get update -qq; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$PG_CLIENT" >/dev/null; \
        rm -rf /var/lib/apt/lists/* /var/cache/apt/*; \
        pg_dump --version; \
    fi
# A fixed numeric uid, so Kubernetes can check runAsNonRoot; group 0 lets platforms that
# run images under an arbitrary uid (OpenShift) still write the data directory.
RUN set -eu; \
    useradd --uid 10001 --gid 0 --home-dir /var/lib/panthera --no-create-home \
        --shell /usr/sbin/nologin panthera; \
    mkdir -p /var/lib/panthera; \
    chown 10001:0 /var/lib/panthera; \
    chmod 0770 /var/lib/panthera
COPY --from=build /opt/panthera /opt/panthera
ENV PATH=/opt/panthera/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PANTHERA_DATA_DIR=/var/lib/panthera
VOLUME ["/var/lib/panthera"]
USER 10001:0
WORKDIR /var/lib/panthera
EXPOSE 8000
ENTRYPOINT ["panthera"]
CMD ["--help"]
