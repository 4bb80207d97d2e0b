import { createContextValues, type ContextValues } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Principal } from "../auth/principal.js";
import { principalKey } from "../api/principal-context.js";
import type { Config } from "../config/schema.js";
import type { Secret } from "../config/secret.js";
import { Failure } from "../status/failure.js";
import type { Authenticate } from "./authenticate.js";
import { BodyBudget } from "./body-budget.js";
import { asConnectError } from "./call-error.js";
import { callLineLogger, callLogInterceptor, callRecordKey, writeCallLine, type CallRecord } from "./call-log.js";
import { applyCors } from "./cors.js";
import { CONSOLE_PATH, isConsolePath, serveConsole, type ConsoleBuild } from "./console-files.js";
import { capDeadline } from "./deadline.js";
import { answerError } from "./error-answer.js";
import type { Metrics } from "./metrics.js";
import { serveMetrics } from "./metrics-endpoint.js";
import type { RequestHandler } from "./one-port.js";
import { answerRestError, type RestSessions } from "./rest.js";
import { rpcAdapter } from "./rpc-adapter.js";
import { PUBLIC_READ_MAX_BYTES, PUBLIC_SERVICES, routes, type ServedServices } from "./routes.js";
import type { InboundEndpoint } from "./inbound-request.js";
import { answerSsfError, type SsfEndpoints } from "./ssf-endpoints.js";
import { answerUnimplemented } from "./unimplemented.js";

export interface HandlerDeps {
  config: Config["server"];
  /** How callers are known from their headers (API keys under the guessing limits), for RPC and REST alike. */
  authenticate: Authenticate;
  /** The service implementations, built in main.ts. */
  services: ServedServices;
  /** Zitadel's REST DeleteSession, built in main.ts. */
  rest: RestSessions;
  /** The SSF transmitter's documents (no key) and stream management (authenticated), built in main.ts. */
  ssf: SsfEndpoints;
  /** Global Token Revocation and the SSF receiver, when configured: they authenticate by the signed tokens they are sent. */
  inbound: readonly InboundEndpoint[];
  /** Request bodies held across the process (shared with REST). */
  budget: BodyBudget;
  metrics: Metrics;
  /** GET /metrics is served on this port to callers presenting this token; absent: not served here. */
  metricsToken?: Secret;
  /** The operator console's files, served at /console; absent: not served. */
  console?: ConsoleBuild;
  /** Aborted when the shutdown's grace period is over: calls still in flight see their signal abort. */
  shutdownSignal?: AbortSignal;
  log: Logger;
}

type Req = Parameters<RequestHandler>[0];
type Res = Parameters<RequestHandler>[1];

/** Everything served on the port: CORS, /metrics, SSF, then REST and RPC calls, each authenticated from its headers first. */
export function createHandler(deps: HandlerDeps): RequestHandler {
  const { config, log, rest, ssf } = deps;
  const rpc = rpcAdapter({
    routes: routes(deps.services),
    readMaxBytes: config.read_max_bytes,
    // A backstop: capDeadline (serveRpc) has already brought every longer deadline down to it.
    maxTimeoutMs: config.max_timeout_ms,
    ...(deps.shutdownSignal && { shutdownSignal: deps.shutdownSignal }),
    interceptors: [callLogInterceptor(log)],
    fallback: answerUnimplemented,
    budget: deps.budget,
    publicServices: PUBLIC_SERVICES,
    publicBudget: new BodyBudget(Math.ceil(config.max_buffered_bytes / 8)),
    publicReadMaxBytes: PUBLIC_READ_MAX_BYTES,
  });
  const callLog = callLineLogger(log);
  const inboundByPath = new Map(deps.inbound.map((e) => [e.path, e]));

  /**
   * Knows the caller from its headers, so that the body of an unknown caller is never read; a
   * refusal is answered in the caller's protocol.
   */
  const authenticated = (req: Req, record: CallRecord, refuse: (failure: Failure) => void, serve: (principal: Principal) => void) => {
    void deps.authenticate(req.headers, req.socket?.remoteAddress).then((auth) => {
      if ("refusal" in auth) {
        record.code = auth.refusal.code;
        refuse(auth.refusal);
        return;
      }
      // Known to the call's log line even when the caller leaves before the answer.
      record.principal = auth.principal.name;
      serve(auth.principal);
    }, (err: unknown) => {
      // The limits' store failed: the caller can retry; the process carries on.
      log.error({ err }, "authentication failed");
      record.code = "UNAVAILABLE";
      refuse(new Failure("UNAVAILABLE", "AUTHENTICATION_UNAVAILABLE", "authentication is unavailable: retry later", { retryable: true }));
    });
  };

  return (req, res) => {
    const record: CallRecord = { start: process.hrtime.bigint(), procedure: (req.url ?? "").split("?")[0]! };
    const service = rpc.serviceOf(record.procedure);
    // Paths that name no route are one label, so junk (preflights included) cannot grow the metrics without bound.
    let routed = service !== undefined;
    res.once("close", () => {
      const code = writeCallLine(callLog, record, res.statusCode, answered(req, res));
      deps.metrics.observeCall(routed ? record.procedure : "other", code);
    });
    if (applyCors(req.method ?? "", req.headers, res, config.cors_allowed_origins)) {
      record.code = "OK";
      res.writeHead(204);
      res.end();
      return;
    }
    if (deps.metricsToken && req.method === "GET" && record.procedure === "/metrics") {
      routed = true;
      record.code = serveMetrics(deps.metrics, deps.metricsToken, req, res);
      return;
    }
    if (deps.console && service === undefined && isConsolePath(record.procedure)) {
      routed = true;
      const path = record.procedure;
      // One label for every console path, so that paths cannot grow the metrics.
      record.procedure = CONSOLE_PATH;
      record.code = serveConsole(deps.console, path, req, res);
      return;
    }
    const inbound = service === undefined ? inboundByPath.get(record.procedure) : undefined;
    if (inbound) {
      routed = true;
      record.procedure = req.method === "POST" ? `POST ${inbound.path}` : inbound.path;
      void inbound.serve(req, res, record).then(
        (code) => (record.code = code),
        (err: unknown) => {
          log.error({ err }, "an inbound endpoint failed");
          record.code = "INTERNAL";
          if (!res.headersSent) res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    // An RPC path is never an SSF one: only what no RPC route names is looked up there.
    const ssfRoute = service === undefined ? ssf.route(req) : undefined;
    if (ssfRoute) {
      routed = true;
      record.procedure = ssfRoute.label;
      if (ssfRoute.open) {
        record.code = ssf.serveOpen(req, res);
        return;
      }
      authenticated(req, record, (failure) => answerSsfError(res, failure), (principal) => {
        void ssf.serve(req, res, principal).then((code) => (record.code = code));
      });
      return;
    }
    if (rest.matches(req)) {
      routed = true;
      record.procedure = `DELETE /v2/sessions/{session_id}`;
      authenticated(req, record, (failure) => answerRestError(res, asConnectError(failure)), (principal) => {
        void rest.serve(req, res, principal).then((code) => (record.code = code));
      });
      return;
    }
    const contextValues = createContextValues().set(callRecordKey, record);
    if (service === undefined || PUBLIC_SERVICES.has(service)) return serveRpc(req, res, contextValues);
    authenticated(req, record, (failure) => answerError(req, res, asConnectError(failure)), (principal) => {
      contextValues.set(principalKey, principal);
      serveRpc(req, res, contextValues);
    });
  };

  function serveRpc(req: Req, res: Res, contextValues: ContextValues): void {
    // Capped rather than refused: connect-es's maxTimeoutMs alone would answer INVALID_ARGUMENT to a longer deadline.
    capDeadline(req.headers, config.max_timeout_ms);
    // The record reaches the interceptors as a context value (no map from request to record).
    rpc(req, res, contextValues);
  }
}

/**
 * Whether the answer went out: not when the client closed the connection first, nor when it
 * reset the HTTP/2 stream. (Node.js ends a request body on RST_STREAM as on END_STREAM, so an
 * answer may have been written to a stream the client had already reset.)
 */
function answered(req: Req, res: Res): boolean {
  if ("stream" in req && req.stream.rstCode) return false;
  return res.writableFinished;
}
