# Parley's image for compose.yaml: the `parley` command with the browser assets vendored.
# The source stays at /src (editable install) because the gateway serves /src/frontend.
FROM python:3.11-slim AS build
RUN apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY actors actors
COPY adapters adapters
COPY gateway gateway
COPY infra infra
COPY parley parley
COPY frontend frontend
RUN python -m venv /opt/parley && /opt/parley/bin/pip install -q -e .
# Only the npm vendoring step of `parley assets build` (a server image needs no chromium).
RUN /opt/parley/bin/python -c "from pathlib import Path; \
from gateway.assets import FRONTEND_DIR, build_assets; build_assets(FRONTEND_DIR, Path('/tmp/npm'))"

FROM python:3.11-slim
RUN useradd --system --create-home parley
COPY --from=build /opt/parley /opt/parley
COPY --from=build --chown=parley /src /src
ENV PATH=/opt/parley/bin:$PATH PYTHONUNBUFFERED=1 PARLEY_STATE_DIR=/tmp/parley
USER parley
WORKDIR /src
EXPOSE 8080
CMD ["parley", "serve", "--role", "all"]
