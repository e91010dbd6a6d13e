# syntax=docker/dockerfile:1
# Build: docker build -t opsbot .   Run: see deploy/kubernetes/ or the README.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts scripts
COPY src src
COPY commands commands
# The sandbox cluster is for local mode from a checkout; the image talks to a real cluster and starts without it.
RUN npm run build && npm prune --omit=dev && rm -rf dist/src/sandbox

FROM node:20-bookworm-slim
# A young generation of 4 MB instead of V8's default of up to 16 MB per semi-space: the main and
# worker threads' heaps each stay 20-60 MB smaller, for a few more short garbage collections (npm run bench).
# Two malloc arenas instead of glibc's eight per core: Node's helper threads each held one.
# glibc's mmap threshold fixed at its own starting value (128 KB): otherwise each large block freed
# raises it (up to 32 MB), and later large blocks, such as the compile of fetch's HTTP parser at the
# first Slack call, come from the heap and keep their pages after they are freed.
ENV NODE_ENV=production \
    PORT=3000 \
    OPSBOT_CONFIG=/etc/opsbot/opsbot.yml \
    NODE_OPTIONS="--max-semi-space-size=4" \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json manifest.yml ./
COPY runbooks ./runbooks
# The image's unprivileged "node" user (uid 1000); nothing in /app is writable by it.
USER 1000:1000
EXPOSE 3000
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
