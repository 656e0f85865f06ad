# One image for the API and the workers; the command decides which process it is.
FROM python:3.11-slim
RUN useradd --create-home --uid 1000 servicecore
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY api api
COPY workers workers
COPY analytics analytics
COPY servicecore servicecore
RUN pip install --no-cache-dir .
USER servicecore
ENV SERVICECORE_HOST=0.0.0.0 SERVICECORE_PORT=8000
EXPOSE 8000
CMD ["servicecore", "serve"]
