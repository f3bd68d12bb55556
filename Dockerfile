# syntax=docker/dockerfile:1
# gitsync's image: the package as `npm pack` makes it, installed with its production dependencies
# only, run by Node's current LTS line as a non-root user. Every step here is one the test suite
# runs too (test/deploy.test.ts; docs/deploy.md says what is tested and what is not).
#
#   docker build -t gitsync .
#   docker compose up        # PostgreSQL, migrations, two replicas behind one port (compose.yaml)

# Node 26 is the Active LTS line from October 2026 (Node 24 is in maintenance until April 2028).
ARG NODE_IMAGE=node:26-slim

# Build: the lock file's packages (dev ones included: the compiler), then the package tarball
# (`prepack` compiles src/ into dist/).
FROM ${NODE_IMAGE} AS pack
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund \
 && mkdir /pack \
 && npm pack --pack-destination /pack --silent \
 && cp package-lock.json scripts/install-package.mjs /pack/

# Run: only the tarball and its production dependencies, pinned by gitsync's lock file.
FROM ${NODE_IMAGE}
RUN --mount=type=bind,from=pack,source=/pack,target=/pack \
    node /pack/install-package.mjs /pack/gitsync-*.tgz /opt/gitsync /pack/package-lock.json \
 && rm -rf /root/.npm /opt/gitsync/gitsync-*.tgz \
 && mkdir /data && chown node:node /data
ENV PATH=/opt/gitsync/node_modules/.bin:$PATH \
    NODE_ENV=production \
    GITSYNC_HOST=0.0.0.0 \
    GITSYNC_PORT=7420 \
    GITSYNC_DATA_DIR=/data
# The embedded database, its key and a generated admin key live here when no PostgreSQL is set.
VOLUME /data
WORKDIR /data
USER node
EXPOSE 7420
# No shell needed: gitsync asks its own /readyz (database reachable and migrated).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["gitsync", "healthcheck", "--timeout", "5"]
ENTRYPOINT ["gitsync"]
CMD ["serve"]
