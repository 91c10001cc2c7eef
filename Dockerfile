# One image for every Fleetplane service: the command picks the role
# (standalone, gateway, agent-service, command-service, sim).
#   docker build -t fleetplane .
#   docker run -p 4320:4320 -p 4321:4321 -v fleetplane-data:/data fleetplane
# Not built in the project's CI (no container engine there): see README.
FROM node:20-bookworm-slim
ENV NODE_ENV=production CI=true
WORKDIR /app
RUN npm install -g pnpm@10.34.8 && npm cache clean --force

# Manifests first, so dependency layers are reused when only code changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY gen/package.json gen/
COPY services/platform/package.json services/platform/
COPY services/platform-node/package.json services/platform-node/
COPY services/opamp/package.json services/opamp/
COPY services/agent-service/package.json services/agent-service/
COPY services/command-service/package.json services/command-service/
COPY services/opamp-gateway/package.json services/opamp-gateway/
COPY services/simulator/package.json services/simulator/
COPY services/client/package.json services/client/
COPY services/console/package.json services/console/
COPY services/fleetplane/package.json services/fleetplane/
COPY test/package.json test/
COPY bench/package.json bench/
COPY chaos/package.json chaos/
RUN pnpm install --frozen-lockfile --prod --filter @fleetplane/server...

COPY gen/src gen/src
COPY services services
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# OpAMP (WebSocket and HTTP), admin API (Connect, gRPC, gRPC-web; /healthz, /readyz, /metrics;
# the web console at /, bundled on first request). Settings: flags or FLEETPLANE_* variables,
# see "fleetplane <command> --help"; a CSR signing CA is mounted as files (--csr-ca-cert, --csr-ca-key).
EXPOSE 4320 4321 4322 4323
# fleetplane's launcher is PID 1: it starts node with the command's own flags (agent-service's young
# generation, bin/node-flags.mjs) and relays SIGTERM to it, so shutdown is graceful (close frames, flush)
# and the container exits as the server does.
ENTRYPOINT ["node", "services/fleetplane/bin/fleetplane.mjs"]
# Agents present an enrollment token (EnrollmentService/CreateEnrollmentToken):
# the OpAMP port is reachable from outside the container.
CMD ["standalone", "--opamp-host", "0.0.0.0", "--api-host", "0.0.0.0", "--data-dir", "/data", "--agent-auth", "token"]
