import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ensureAdminKey } from "./auth/admin-key.js";
import { ApiKeys, type ApiKeyEntry } from "./auth/api-keys.js";
import { GuessLimits } from "./auth/guess-limits.js";
import { JwtCallers } from "./auth/jwt-callers.js";
import { deliveriesService } from "./api/deliveries.js";
import { operationsService } from "./api/operations.js";
import { sessionControlService } from "./api/session-control.js";
import { userLinksService } from "./api/user-links.js";
import { zitadelSessionService } from "./api/zitadel-compat.js";
import { StepUp } from "./auth/step-up.js";
import { jwtCaller } from "./config/jwt-issuers.js";
import { ConfigError } from "./config/load.js";
import type { Config } from "./config/schema.js";
import { Deliveries } from "./notify/deliveries.js";
import { SigningKeyError } from "./notify/signing-key-kind.js";
import { SigningKeys } from "./notify/signing-keys.js";
import { SsfStreams } from "./notify/ssf-streams.js";
import { buildProviders } from "./providers/registry.js";
import { base32Decode } from "./auth/totp.js";
import { AuditTrail, recordTerminations } from "./sessions/audit-trail.js";
import { EmbeddedSessions } from "./sessions/embedded-sessions.js";
import { EndAllSessions, Operations } from "./sessions/end-all-sessions.js";
import { EndSession } from "./sessions/end-session.js";
import { OperationWatches } from "./sessions/operation-watch.js";
import { UserSessions } from "./sessions/user-sessions.js";
import { userSessionsService } from "./api/user-sessions.js";
import { FanOut, type FanOutSettings } from "./sessions/fan-out.js";
import { ListingLimiters, ProviderLimiters } from "./sessions/limiter.js";
import { ProviderDirectory } from "./sessions/provider-directory.js";
import { WORK_REQUEST_ID_SECRET } from "./sessions/request-id.js";
import { TerminationEvents } from "./sessions/termination-events.js";
import { UserLinks } from "./sessions/user-links.js";
import { InboundRevocation } from "./sessions/inbound-revocation.js";
import { TokenVerifier } from "./auth/verify-token.js";
import { trustedIssuer } from "./config/token-issuer.js";
import { GlobalTokenRevocation } from "./server/gtr-endpoint.js";
import type { InboundEndpoint } from "./server/inbound-request.js";
import { SsfReceiver } from "./server/ssf-receiver.js";
import { authenticator } from "./server/authenticate.js";
import { BodyBudget } from "./server/body-budget.js";
import { loadConsoleBuild, type ConsoleBuild } from "./server/console-files.js";
import { createHandler } from "./server/handler.js";
import { HealthStatus } from "./server/health.js";
import { Metrics } from "./server/metrics.js";
import { listenMetrics, type MetricsServer } from "./server/metrics-endpoint.js";
import { listenOnePort, type ConnectionLimits, type OnePortServer } from "./server/one-port.js";
import { RestSessions } from "./server/rest.js";
import { SERVED_NAMES } from "./server/routes.js";
import { SsfEndpoints } from "./server/ssf-endpoints.js";
import { AuditRetention } from "./store/audit-retention.js";
import { DataDirError, looseDataDir } from "./store/data-dir.js";
import { openStore } from "./store/open.js";
import { STREAM_MAX_AGE_MS, subscriberId } from "./store/outbox-types.js";
import { DeliveryWorker, type DeliverySettings } from "./notify/delivery-worker.js";
import { servedBy, targetResolver } from "./notify/targets.js";
import { streamTarget } from "./notify/stream-target.js";

export interface RunningService {
  server: OnePortServer;
  /** The server of `metrics.listen`, when configured. */
  metricsServer?: MetricsServer;
  /** Stops serving: in-flight calls finish within the grace period; then the store closes. */
  stop(): Promise<void>;
}

/** The composition root: config -> store -> providers -> server. */
export async function startService(config: Config, log: Logger): Promise<RunningService> {
  const stores = await openStore(config.store, config.data_dir).catch(dataDirMistake);
  // Every end is announced to the configured receivers (and the SSF streams that asked), from the store's outbox.
  stores.outbox.setConfiguredSubscribers(config.notifications.receivers.map((r) => ({ id: subscriberId.receiver(r.name), maxAgeMs: r.max_age_ms })));
  const signingKeys = await SigningKeys.load(config.signing, stores.signingKeys).catch(async (err: unknown) => {
    await stores.close();
    signingKeyMistake(err);
  });
  // The issuer (SET `iss`, SSF metadata): public_url, else this server's URL, its port known once listening.
  let issuer = issuerOf(config, config.server.port);
  const keys = new ApiKeys(config.api_keys?.map(keyEntry) ?? [bootstrapAdminKey(config.data_dir, log)]);
  if (config.store === "sqlite" || !config.api_keys) warnIfLoose(config.data_dir, log);
  const metrics = new Metrics();
  // Guessing counters: in memory on SQLite; on PostgreSQL in its guess_limits table, shared by the replicas.
  const limitsPool = config.store === "sqlite" ? undefined : new pg.Pool({ connectionString: config.store, max: 4 });
  limitsPool?.on("error", () => undefined);
  const guessLimits = new GuessLimits(
    { failedAuthPerAddress: config.limits.failed_auth_per_address, wrongTokensPerSession: config.limits.wrong_tokens_per_session, wrongTokensPerPrincipal: config.limits.wrong_tokens_per_principal, windowMs: config.limits.window_ms },
    limitsPool,
    log,
    metrics.observeRefusal,
  );
  const retention = new AuditRetention(stores.audit, stores.outbox, { days: config.audit.retention_days }, log);
  const providers = buildProviders(config.providers, stores.sessions, metrics.observeAttempt);
  const defaultProvider = config.default_provider ?? providers[0]!.name;

  // The domain, and the subscribers of every termination's outcome: the audit trail, then metrics.
  const events = new TerminationEvents();
  recordTerminations(stores.audit, events);
  events.onEnded((e) => metrics.observeTermination(e.provider, "OK")).onFailed((e) => metrics.observeTermination(e.provider, e.answered.code));
  const stepUp = new StepUp(stores.totpSteps);
  const endSession = new EndSession(providers, defaultProvider, stores.audit, events, guessLimits, stepUp);
  const workKey = await stores.secrets.serviceSecret(WORK_REQUEST_ID_SECRET);
  // Each provider's budget of upstream calls at once, shared by sign-out-everywhere's work and ListUserSessions.
  const limiters = new ProviderLimiters(config.operations.concurrency_per_provider);
  const fanOut = new FanOut(stores.operations, new Map(providers.map((p) => [p.name, p])), limiters, endSession, workKey, fanOutSettings(config.operations), log);
  const userLinks = new UserLinks(stores.links, stores.sessions, providers.map((p) => p.name));
  const endAll = new EndAllSessions(stores.operations, fanOut, stepUp, providers.map((p) => p.name), config.operations.max_age_ms, userLinks);
  const watches = new OperationWatches(stores.operations, fanOut, {
    pollMs: config.operations.watch_poll_ms,
    maxWatches: config.operations.max_watches,
    maxWatchesPerCaller: config.operations.max_watches_per_caller,
    maxWatchMs: config.server.max_timeout_ms,
  });
  metrics.watchOperationWatches(() => watches.active);

  // Every service implementation, built here: the edges only translate.
  const health = new HealthStatus(SERVED_NAMES);
  const services = {
    sessionControl: {
      ...sessionControlService({ endSession, sessions: new EmbeddedSessions(stores.sessions), providers: new ProviderDirectory(providers, defaultProvider) }),
      ...operationsService({ endAll, operations: new Operations(stores.operations), watches, auditTrail: new AuditTrail(stores.audit) }),
      ...userSessionsService(new UserSessions(providers, userLinks, new ListingLimiters(limiters, config.operations.concurrency_per_provider), { maxPerProvider: config.user_sessions.max_per_provider }, log)),
      ...deliveriesService(new Deliveries(stores.outbox)),
      ...userLinksService(userLinks),
    },
    zitadel: zitadelSessionService(endSession),
    health,
  };
  const budget = new BodyBudget(config.server.max_buffered_bytes);
  const rest = new RestSessions(endSession, config.server.read_max_bytes, budget, config.server.max_timeout_ms);
  const streams = new SsfStreams(stores.streams, () => issuer, (id, state) =>
    stores.outbox.enqueue({ kind: "verification", ...(state !== undefined && { state }) }, subscriberId.stream(id), STREAM_MAX_AGE_MS),
  );
  const ssf = new SsfEndpoints({ streams, keys: signingKeys, issuer: () => issuer, readMaxBytes: config.server.read_max_bytes, budget });
  const token = config.metrics.bearer_token;
  // With its own address, /metrics is served there only; on the main port, only behind a token.
  const metricsToken = config.metrics.listen === undefined ? token : undefined;
  // API keys, and JWTs of auth.jwt_issuers whose default audience is this service's URL (read per call: the port is known once listening).
  const authenticate = authenticator(keys, new JwtCallers(config.auth.jwt_issuers.map(jwtCaller), () => issuer), guessLimits);
  const inbound = inboundEndpoints(config, new InboundRevocation(userLinks, stores.seenTokens, endAll, workKey), { issuer: () => issuer, limits: guessLimits, budget, log });
  // Aborted once the shutdown's grace period is over: calls still in flight (Health.Watch streams) end with UNAVAILABLE.
  const shutdown = new AbortController();
  // Every call in flight listens to it (connect-es links it into each call's signal).
  setMaxListeners(0, shutdown.signal);
  const consoleBuild = config.console.enabled ? loadConsole(config.console.dir, log) : undefined;
  const handler = createHandler({ config: config.server, authenticate, services, rest, ssf, inbound, budget, metrics, ...(metricsToken && { metricsToken }), ...(consoleBuild && { console: consoleBuild }), shutdownSignal: shutdown.signal, log });
  const tls = config.server.tls && { cert: readFileSync(config.server.tls.cert_file), key: readFileSync(config.server.tls.key_file) };
  const server = await listenOnePort(handler, {
    host: config.server.host,
    port: config.server.port,
    limits: connectionLimits(config.server),
    ...(tls ? { tls } : {}),
    onGraceOver: () => shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable)),
  });
  issuer = issuerOf(config, server.port);
  const metricsServer = config.metrics.listen && (await listenMetrics(config.metrics.listen, metrics, token));
  if (metricsServer) log.info({ host: config.metrics.listen!.host, port: metricsServer.port, token: token !== undefined }, "serving metrics");
  log.info({ host: config.server.host, port: server.port, tls: server.tls, store: config.store === "sqlite" ? config.data_dir : "postgres" }, "serving");
  // Announcing ended sessions: one loop per receiver or stream, woken by the outbox's commits and by polls for other replicas' work.
  const delivery = new DeliveryWorker({
    store: stores.outbox,
    targets: targetResolver(config.notifications.receivers, (id) => stores.streams.getStream(id).then((s) => s && streamTarget(s))),
    serves: servedBy(config.notifications.receivers),
    signer: signingKeys,
    issuer,
    settings: deliverySettings(config.notifications),
    observer: metrics.deliveryObserver,
    log,
  });
  metrics.watchOutboxDepth(() => delivery.outboxDepth());
  stores.outbox.onQueued((subscribers) => delivery.kick(subscribers));
  fanOut.startBackground();
  delivery.start();
  retention.start();
  return {
    server,
    ...(metricsServer && { metricsServer }),
    async stop() {
      health.shutdown();
      // Watches would hold the shutdown for its whole grace period: they end at once with UNAVAILABLE, to be watched again elsewhere.
      watches.stop();
      await Promise.all([server.close(config.server.shutdown_grace_ms), metricsServer?.close()]);
      await fanOut.stop();
      await delivery.stop(config.server.shutdown_grace_ms);
      await retention.stop();
      await Promise.all(providers.map((p) => p.close?.()));
      await limitsPool?.end();
      await stores.close();
    },
  };
}

/**
 * The console's build, read once: `dir`, else dist/console of this installation (beside dist/src
 * when running compiled, under the repository when running from src/). A missing build is served
 * as a 404 that says how to make it, and logged.
 */
function loadConsole(dir: string | undefined, log: Logger): ConsoleBuild {
  const above = fileURLToPath(new URL("../", import.meta.url));
  const where = dir ?? (basename(above) === "dist" ? join(above, "console") : join(above, "dist", "console"));
  const build = loadConsoleBuild(where);
  // Only a build asked for by name is worth a warning: running from source without a build is usual in development.
  if ("missing" in build) log[dir === undefined ? "info" : "warn"]({ reason: build.missing }, "the console is not served");
  else log.info({ dir: where, files: build.files.size }, "serving the console at /console");
  return build;
}

/** Global Token Revocation and the SSF receiver, each served when it has someone to trust. */
function inboundEndpoints(config: Config, revocation: InboundRevocation, deps: Pick<ConstructorParameters<typeof SsfReceiver>[0], "issuer" | "limits" | "budget" | "log">): InboundEndpoint[] {
  const endpoints: InboundEndpoint[] = [];
  const callers = config.gtr.callers.map((c) => ({ ...trustedIssuer(c), subjectIssuers: [c.issuer, ...c.subject_issuers], ...(c.required_scope !== undefined && { requiredScope: c.required_scope }) }));
  if (callers.length > 0) endpoints.push(new GlobalTokenRevocation({ verifier: new TokenVerifier(callers), revocation, ...deps }));
  const transmitters = config.ssf.transmitters.map((t) => ({ ...trustedIssuer(t), subjectIssuers: [t.issuer, ...t.subject_issuers], ...(t.audience !== undefined && { audience: t.audience }), actions: t.events }));
  if (transmitters.length > 0) endpoints.push(new SsfReceiver({ verifier: new TokenVerifier(transmitters), revocation, maxEventAgeMs: config.ssf.max_event_age_ms, ...deps }));
  return endpoints;
}

function connectionLimits(s: Config["server"]): ConnectionLimits {
  return {
    maxConnections: s.max_connections,
    maxConcurrentStreams: s.max_concurrent_streams,
    headerTimeoutMs: s.header_timeout_ms,
    bodyTimeoutMs: s.body_timeout_ms,
    idleTimeoutMs: s.idle_timeout_ms,
  };
}

function keyEntry(k: NonNullable<Config["api_keys"]>[number]): ApiKeyEntry {
  return {
    name: k.name,
    sha256: k.sha256,
    permissions: k.permissions,
    ...(k.user_id && { userId: k.user_id }),
    ...(k.totp_secret && { totpKey: base32Decode(k.totp_secret.reveal())! }),
  };
}

function deliverySettings(n: Config["notifications"]): DeliverySettings {
  return {
    pollMs: n.poll_ms,
    leaseMs: n.lease_ms,
    requestTimeoutMs: n.request_timeout_ms,
    concurrencyPerReceiver: n.concurrency_per_receiver,
    retryInitialMs: n.retry_initial_ms,
    retryMaxMs: n.retry_max_ms,
    misconfiguredRetryMs: n.misconfigured_retry_ms,
  };
}

function fanOutSettings(o: Config["operations"]): FanOutSettings {
  return {
    leaseMs: o.lease_ms,
    pollMs: o.poll_ms,
    retryInitialMs: o.retry_initial_ms,
    retryMaxMs: o.retry_max_ms,
    callTimeoutMs: o.call_timeout_ms,
  };
}

function bootstrapAdminKey(dataDir: string, log: Logger): ApiKeyEntry {
  let admin;
  try {
    admin = ensureAdminKey(dataDir);
  } catch (err) {
    dataDirMistake(err);
  }
  log.info({ path: admin.path, created: admin.created }, "no api_keys configured: using the admin key in this file");
  return admin.entry;
}

/** An unusable data directory is a configuration mistake: one line naming `data_dir` and the path. */
function dataDirMistake(err: unknown): never {
  if (err instanceof DataDirError) throw new ConfigError([`data_dir: ${err.message}`]);
  throw err;
}

/** A signing key that cannot be used is a configuration mistake: one line naming where it came from. */
function signingKeyMistake(err: unknown): never {
  if (err instanceof SigningKeyError) throw new ConfigError([err.message]);
  dataDirMistake(err);
}

/** public_url without its trailing slash, else `http(s)://<server.host>:<port>`. */
function issuerOf(config: Config, port: number): string {
  const host = config.server.host.includes(":") ? `[${config.server.host}]` : config.server.host;
  return (config.public_url ?? `${config.server.tls ? "https" : "http"}://${host}:${port}`).replace(/\/+$/, "");
}

/** A data directory that was there before us, with other files in it, keeps its mode; say so. */
function warnIfLoose(dataDir: string, log: Logger): void {
  const mode = looseDataDir(dataDir);
  if (mode) log.warn({ path: dataDir, mode }, "data_dir is open to other users (its files are 0600); make it private with chmod 700");
}
