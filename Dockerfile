# syntax=docker/dockerfile:1
# One image, every role: the command picks it (processor by default, gateway, migrate, or an
# operations command such as `lag`). See OPERATIONS.md.

# --- build: full dependency tree, compile src/ to dist/ (tsconfig.build.json leaves tests out) ---
FROM node:24-alpine AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Some npm 11 releases write lock files without other platforms' optional packages and then refuse
# them in `npm ci`; `npm install --no-save` installs the same locked versions (scripts/setup.sh does
# the same).
RUN npm ci --no-audit --no-fund || npm install --no-save --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies, compiled code and the SQL migrations, nothing else ---
FROM node:24-alpine AS runtime
# A young generation of 8 MB semi-spaces instead of V8's default (up to 64 MB on a large host): the
# roles allocate fast and keep little, so a small nursery collects the same garbage in shorter
# pauses and keeps resident memory ~120 MB lower (bench/README.md, memory case). Old-generation
# growth is capped by the processor itself (src/runtime/heap.ts).
ENV NODE_ENV=production
ENV NODE_OPTIONS="--max-semi-space-size=8"
WORKDIR /app
COPY package.json package-lock.json ./
RUN (npm ci --omit=dev --no-audit --no-fund || npm install --no-save --omit=dev --no-audit --no-fund) \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
# The migrator reads ../../migrations relative to dist/migrator/, i.e. /app/migrations.
COPY migrations ./migrations
# The node image's unprivileged user (uid 1000); nothing in /app is writable by it.
USER node
# 8080: health, readiness, metrics, management API (HTTP_PORT). 5027: Teltonika (gateway role).
EXPOSE 8080 5027/tcp 5027/udp
# Busybox wget ships with alpine. Shell form so HTTP_PORT is honoured. Roles without an HTTP
# server (migrate, the operations commands) exit long before the start period ends.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD wget -q -T 4 -O /dev/null "http://127.0.0.1:${HTTP_PORT:-8080}/healthz" || exit 1
ENTRYPOINT ["node", "dist/main.js"]
CMD ["processor"]
