# syntax=docker/dockerfile:1
# Portico image: docker build -t portico .
# The program runs as UID 10001 on a read-only root filesystem; it writes nothing outside /tmp.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: compile TypeScript to dist/ -------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied, and the `node`
# devDependency's install script would fetch a second Node 24 this image already has.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies + dist/ -------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# In a small container Node sizes V8's young generation at 1 MiB, which a proxy fills every
# ~60 requests: 16 MiB costs ~10 % less CPU per request. Workers get it from the primary.
# Setting NODE_OPTIONS yourself replaces this: keep the flag in yours.
ENV NODE_OPTIONS=--max-semi-space-size=16
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no compiler, no `node` package (the image's own Node is 24).
# --ignore-scripts: `prepare` runs the build, which needs the dev dependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/*
COPY --from=build /src/dist ./dist
COPY bin ./bin
# Files stay owned by root: the program only reads them.
USER 10001:10001
# http, https (TLS termination: Secrets, SNI, ACME), health (/healthz, /readyz, and /metrics unless --metrics-port)
EXPOSE 8080 8443 10254
ENTRYPOINT ["node", "/app/dist/cli.js"]
