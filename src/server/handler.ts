import { Code, ConnectError, createContextValues, type ContextValues } from "@connectrpc/connect";
import type { Logger } from "pino";
import { principalKey } from "../api/principal-context.js";
import type { OperationsImpl } from "../api/operations.js";
import type { TerminateAction } from "../api/terminate.js";
import type { Config } from "../config/schema.js";
import type { Secret } from "../config/secret.js";
import { codeName } from "../status/errors.js";
import type { SessionStore } from "../store/store.js";
import type { Authenticate } from "./authenticate.js";
import { BodyBudget } from "./body-budget.js";
import { callLineLogger, callLogInterceptor, callRecordKey, writeCallLine, type CallRecord } from "./call-log.js";
import { applyCors } from "./cors.js";
import { capDeadline } from "./deadline.js";
import { answerError } from "./error-answer.js";
import type { HealthStatus } from "./health.js";
import type { Metrics } from "./metrics.js";
import { serveMetrics } from "./metrics-endpoint.js";
import type { RequestHandler } from "./one-port.js";
import { RestSessions } from "./rest.js";
import { rpcAdapter } from "./rpc-adapter.js";
import { PUBLIC_READ_MAX_BYTES, PUBLIC_SERVICES, routes } from "./routes.js";
import { answerUnimplemented } from "./unimplemented.js";

export interface HandlerDeps {
  config: Config["server"];
  sessions: SessionStore;
  /** How callers are known from their headers (API keys; the lead's guessing limits wrap it). */
  authenticate: Authenticate;
  terminate: TerminateAction;
  operations: OperationsImpl;
  health: HealthStatus;
  metrics: Metrics;
  /** GET /metrics is served on this port to callers presenting this token; absent: not served here. */
  metricsToken?: Secret;
  log: Logger;
}

/** Everything served on the port: CORS, the REST route, then the RPC router. */
export function createHandler(deps: HandlerDeps): RequestHandler {
  const { config, log } = deps;
  const budget = new BodyBudget(config.max_buffered_bytes);
  const rpc = rpcAdapter({
    routes: routes(deps.sessions, deps.terminate, deps.operations, deps.health),
    readMaxBytes: config.read_max_bytes,
    interceptors: [callLogInterceptor(log)],
    fallback: answerUnimplemented,
    budget,
    publicServices: PUBLIC_SERVICES,
    publicBudget: new BodyBudget(Math.ceil(config.max_buffered_bytes / 8)),
    publicReadMaxBytes: PUBLIC_READ_MAX_BYTES,
    log,
  });
  const rest = new RestSessions(deps.authenticate, deps.terminate, config.read_max_bytes, budget);
  const callLog = callLineLogger(log);

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
    if (rest.matches(req)) {
      routed = true;
      record.procedure = `DELETE /v2/sessions/{session_id}`;
      void rest.serve(req, res).then((outcome) => Object.assign(record, outcome));
      return;
    }
    const contextValues = createContextValues().set(callRecordKey, record);
    if (service === undefined || PUBLIC_SERVICES.has(service)) return serveRpc(req, res, contextValues);
    // Refused from its headers: the body of an unknown caller is never read.
    void deps.authenticate(req.headers, req.socket?.remoteAddress).then((auth) => {
      if ("refusal" in auth) {
        record.code = codeName(auth.refusal.code);
        answerError(req, res, auth.refusal);
        return;
      }
      contextValues.set(principalKey, auth.principal);
      // Known to the call's log line even when the caller leaves before the answer.
      record.principal = auth.principal.name;
      serveRpc(req, res, contextValues);
    }, (err: unknown) => {
      // The limits' store failed: the caller can retry; the process carries on.
      log.error({ err }, "authentication failed");
      record.code = "UNAVAILABLE";
      answerError(req, res, new ConnectError("authentication is unavailable: retry later", Code.Unavailable));
    });
  };

  function serveRpc(req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1], contextValues: ContextValues): void {
    capDeadline(req.headers, config.max_timeout_ms);
    // The record reaches the interceptors as a context value (no map from request to record).
    rpc(req, res, contextValues);
  };
}

/**
 * Whether the answer went out: not when the client closed the connection first, nor when it
 * reset the HTTP/2 stream. (Node.js ends a request body on RST_STREAM as on END_STREAM, so an
 * answer may have been written to a stream the client had already reset.)
 */
function answered(req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1]): boolean {
  if ("stream" in req && req.stream.rstCode) return false;
  return res.writableFinished;
}
