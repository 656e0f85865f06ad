# One image for the API and the workers; the command decides which process it is.
FROM python:3.11-slim
# The non-root user and its data folder (SERVICECORE_DATA_DIR: the analytics worker's DuckDB
# file and published snapshot). A named volume mounted on /data starts as a copy of this
# folder, so it belongs to the user too.
RUN useradd --create-home --uid 1000 servicecore \
    && install -d -o servicecore -g servicecore -m 0750 /data
WORKDIR /app
# The dependencies from the lock file first (exact versions, every file checked against its
# hash; `make lock` refreshes it), in a layer of their own that code changes do not rebuild.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY api api
COPY workers workers
COPY analytics analytics
COPY servicecore servicecore
# The project itself, nothing more: its dependencies are all in the lock above.
RUN pip install --no-cache-dir --no-deps . && rm -rf build *.egg-info
USER servicecore
ENV SERVICECORE_HOST=0.0.0.0 SERVICECORE_PORT=8000 SERVICECORE_DATA_DIR=/data
EXPOSE 8000 9100
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["servicecore", "probe"]
CMD ["servicecore", "serve"]
