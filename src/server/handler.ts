import { createContextValues } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ApiKeys } from "../auth/api-keys.js";
import type { GuessLimits } from "../auth/guess-limits.js";
import type { OperationsImpl } from "../api/operations.js";
import type { TerminateAction } from "../api/terminate.js";
import type { Config } from "../config/schema.js";
import type { Store } from "../store/store.js";
import { authInterceptor } from "./auth-interceptor.js";
import { callLineLogger, callLogInterceptor, callRecordKey, writeCallLine, type CallRecord } from "./call-log.js";
import { clientAddress, clientAddressKey } from "./client-address.js";
import { applyCors } from "./cors.js";
import { capDeadline } from "./deadline.js";
import type { HealthStatus } from "./health.js";
import type { Metrics } from "./metrics.js";
import type { RequestHandler } from "./one-port.js";
import { RestSessions } from "./rest.js";
import { rpcAdapter } from "./rpc-adapter.js";
import { PUBLIC_SERVICES, routes } from "./routes.js";
import { answerUnimplemented } from "./unimplemented.js";

export interface HandlerDeps {
  config: Config["server"];
  store: Store;
  keys: ApiKeys;
  guessLimits: GuessLimits;
  terminate: TerminateAction;
  operations: OperationsImpl;
  health: HealthStatus;
  metrics: Metrics;
  log: Logger;
}

/** Everything served on the port: CORS, the REST route, then the RPC router. */
export function createHandler(deps: HandlerDeps): RequestHandler {
  const { config, log } = deps;
  const rpc = rpcAdapter({
    routes: routes(deps.store, deps.terminate, deps.operations, deps.health),
    readMaxBytes: config.read_max_bytes,
    interceptors: [callLogInterceptor(log), authInterceptor(deps.keys, PUBLIC_SERVICES, deps.guessLimits)],
    fallback: answerUnimplemented,
    log,
  });
  const rest = new RestSessions(deps.keys, deps.terminate, config.read_max_bytes, deps.guessLimits);
  const callLog = callLineLogger(log);

  return (req, res) => {
    const record: CallRecord = { start: process.hrtime.bigint(), procedure: (req.url ?? "").split("?")[0]! };
    res.once("close", () => {
      const code = writeCallLine(callLog, record, res.statusCode, res.writableFinished);
      // Paths that reached no handler are one label, so junk cannot grow the metrics without bound.
      deps.metrics.observeCall(record.code ? record.procedure : "other", code);
    });
    if (applyCors(req.method ?? "", req.headers, res, config.cors_allowed_origins)) {
      record.code = "OK";
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method === "GET" && record.procedure === "/metrics") {
      record.code = "OK";
      void deps.metrics.render().then(({ contentType, body }) => {
        res.writeHead(200, { "content-type": contentType });
        res.end(body);
      });
      return;
    }
    if (rest.matches(req)) {
      record.procedure = `DELETE /v2/sessions/{session_id}`;
      void rest.serve(req, res).then((outcome) => Object.assign(record, outcome));
      return;
    }
    capDeadline(req.headers, config.max_timeout_ms);
    // The record reaches the interceptors as a context value (no map from request to record).
    rpc(req, res, createContextValues().set(callRecordKey, record).set(clientAddressKey, clientAddress(req)));
  };
}
