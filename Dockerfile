# syntax=docker/dockerfile:1
# PRISM Gateway image. CPU by default; NVIDIA CUDA with:  docker build --build-arg VARIANT=cuda -t prism-gateway:cuda .
# Models and adapter packs are not baked in: mount them at /app/models and /app/adapters
# (or run `docker run ... prism-gateway pull` once against the models volume).
ARG NODE_VERSION=20
ARG VARIANT=cpu
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04

# ---- build: compile TypeScript with the dev dependencies --------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# node-llama-cpp must not fetch or compile binaries here; the prebuilt ones come from npm.
# npm install (guided by the lock file), not npm ci: npm leaves the other platforms' optional binary packages
# out of the lock file, which npm ci then refuses as "missing".
ENV NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- production dependencies, CPU: package.json overrides map the CUDA/Vulkan binaries to an empty package ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps-cpu
WORKDIR /app
ENV NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- production dependencies, CUDA: drop the overrides so npm installs node-llama-cpp's CUDA binaries ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps-cuda
WORKDIR /app
ENV NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json package-lock.json ./
RUN npm pkg delete overrides \
 && npm install --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# hadolint ignore=DL3006
FROM deps-${VARIANT} AS deps

# ---- runtime bases --------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime-cpu

FROM node:${NODE_VERSION}-bookworm-slim AS node-binary
# hadolint ignore=DL3006
FROM ${CUDA_IMAGE} AS runtime-cuda
COPY --from=node-binary /usr/local/bin/node /usr/local/bin/node
# Same non-root user as the node images (uid/gid 1000).
RUN groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /usr/sbin/nologin --create-home node

# ---- final image ----------------------------------------------------------------------------------
# hadolint ignore=DL3006
FROM runtime-${VARIANT}
# UV_THREADPOOL_SIZE=1: model steps stay on one libuv thread (see src/engine/libuv-pool.ts); set here so
# `prism serve` needs no self re-run and PID 1 is the server itself.
ENV NODE_ENV=production \
    PRISM_SERVER_HOST=0.0.0.0 \
    PRISM_SERVER_PORT=8080 \
    UV_THREADPOOL_SIZE=1
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /app/models /app/adapters /app/data && chown node:node /app/models /app/adapters /app/data
VOLUME ["/app/models", "/app/adapters", "/app/data"]
# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
# 503 while the model loads or the server drains; the start period covers a slow model load.
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PRISM_SERVER_PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
