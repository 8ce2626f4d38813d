# syntax=docker/dockerfile:1
# Portico image: docker build -t portico .
# The program runs as UID 10001 on a read-only root filesystem; it writes nothing outside /tmp.
#
# The runtime image is RUNTIME_IMAGE (Debian slim, the distribution NODE_IMAGE is built on) with
# the `node` binary, dist/ and the production dependencies trimmed to what the program loads: no
# npm, npx, corepack or yarn, no compiler, no type declarations. The two images must be the same
# distribution and libc (the binary is copied from one onto the other). On x64 Node links
# glibc, libstdc++ and libgcc_s only, all in Debian slim; the node image also installs
# libatomic1 "for arm", which Debian slim lacks: check `ldd` before building for 32-bit ARM.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build: compile TypeScript to dist/ -------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied, and the `node`
# devDependency's install script would fetch a second Node 24 this image already has.
# --omit=peer: the compiler needs none of them (aws-cdk-lib alone, a peer of the test-only
# helm/kubectl package, is 160 MB).
RUN npm ci --ignore-scripts --omit=peer --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies, trimmed ---------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no compiler, no `node` package (the image's own Node is 24).
# --ignore-scripts: `prepare` runs the build, which needs the dev dependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /src/dist ./dist
# Drops declarations, source maps and the parts of @kubernetes/client-node (its generated API
# clients and models, ~60 of its 65 MB) and their dependencies that the program never loads.
COPY scripts/prune-runtime-deps.mjs /tmp/
RUN node /tmp/prune-runtime-deps.mjs /app

# ---- runtime: node + dist/ + node_modules/ ----------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ENV NODE_ENV=production
# In a small container Node sizes V8's young generation at 1 MiB, which a proxy fills every
# ~60 requests: 16 MiB costs ~10 % less CPU per request. Workers get it from the primary.
# Setting NODE_OPTIONS yourself replaces this: keep the flag in yours.
ENV NODE_OPTIONS=--max-semi-space-size=16
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
# Files stay owned by root: the program only reads them.
USER 10001:10001
# http, https (TLS termination: Secrets, SNI, ACME), health (/healthz, /readyz, and /metrics unless --metrics-port)
EXPOSE 8080 8443 10254
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/cli.js"]
