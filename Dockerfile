# syntax=docker/dockerfile:1
# The realip sidecar image: `docker build -t ghcr.io/realip/realip:0.1.0 .`
# Runs `realip sidecar` as an unprivileged user (uid 10001) with a read-only-friendly layout.

# ---- build: compile dist/ with the dev toolchain -------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsup.config.ts ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies plus the optional integrations a policy can enable -------------
# (GeoIP via maxmind and the bundled country database, metrics via prom-client, access logs via pino,
# the Redis rate-limit store via ioredis), at the versions package-lock.json pins. They are dev
# dependencies of this repository, which `npm ci --omit=dev` leaves out: scripts/image-deps.mjs makes
# them runtime dependencies of a manifest for the image first.
FROM node:20-bookworm-slim AS deps
WORKDIR /src
COPY package.json package-lock.json scripts/image-deps.mjs ./
RUN node image-deps.mjs \
 && npm install --omit=dev --no-audit --no-fund --ignore-scripts \
 && npm cache clean --force

# ---- runtime ----------------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json LICENSE ./
# A numeric uid so Kubernetes can verify runAsNonRoot without resolving names.
RUN groupadd --system --gid 10001 realip \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin realip
USER 10001:10001
EXPOSE 8080 9901
# Kubernetes stops the container with SIGTERM; node is PID 1 and the CLI handles the signal itself.
STOPSIGNAL SIGTERM
HEALTHCHECK NONE
ENTRYPOINT ["node", "dist/cli/main.js", "sidecar"]
CMD ["--upstream", "http://127.0.0.1:3000"]
