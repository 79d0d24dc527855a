# The mlcp controller image: `mlcp reconcile` (and every other mlcp command) on a slim Python base.
# Build: docker build -t ghcr.io/example/mlcp:0.1.0 .   (see docs/operations.md)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controlplane ./controlplane
COPY reconciler ./reconciler
COPY repo_template ./repo_template
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# git: the loop clones and fetches the config repo; openssh-client for git over SSH.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home --home-dir /home/mlcp mlcp
COPY --from=build /install /usr/local
USER 10001
ENV HOME=/home/mlcp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GIT_TERMINAL_PROMPT=0
EXPOSE 8080
ENTRYPOINT ["mlcp"]
CMD ["reconcile", "--help"]
