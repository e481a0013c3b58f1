# syntax=docker/dockerfile:1
# The ModelRoute operator image: docker build -t modelroute .
#
# Both stages use the same exactly pinned base, so the wheel is built by the interpreter that runs it.
# The runtime dependencies come from requirements/runtime.lock, every one pinned and checked against
# the hashes recorded there (`make lock` regenerates it from pyproject.toml); only wheels are taken.
# The chart runs it as user 65532 with a read-only root filesystem and a writable /tmp.

FROM python:3.11.13-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.13-slim-bookworm
LABEL org.opencontainers.image.title="ModelRoute" \
      org.opencontainers.image.description="Keep stateless OpenAI API traffic on approved Azure endpoints, enforced at deploy time in Kubernetes." \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 65532 modelroute \
    && useradd --system --no-log-init --uid 65532 --gid 65532 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin modelroute
# The lock and the wheel are bind-mounted, so neither becomes a layer of this image. The locked
# dependencies go in first with --require-hashes; the project's own wheel then needs none of its
# own (--no-deps), and `pip check` fails the build if the lock does not satisfy it.
RUN --mount=type=bind,source=requirements/runtime.lock,target=/tmp/runtime.lock \
    --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
      --require-hashes --only-binary=:all: -r /tmp/runtime.lock \
    && pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore --no-deps /wheels/*.whl \
    && pip check
# Set after the install, which precompiles the bytecode; at run time the root filesystem is read-only.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 65532:65532
# 9443: admission webhooks (HTTPS); 8080: /metrics, /healthz, /readyz.
EXPOSE 9443 8080
ENTRYPOINT ["modelroute"]
CMD ["run"]
