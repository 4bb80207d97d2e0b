import type http from "node:http";
import type http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { requirePermission, type Principal } from "../auth/principal.js";
import type { SigningKeys } from "../notify/signing-keys.js";
import type { SsfStreams } from "../notify/ssf-streams.js";
import { SSF_PATHS, transmitterMetadata } from "../notify/transmitter-metadata.js";
import { codeName } from "../status/code-names.js";
import { Failure } from "../status/failure.js";
import type { BodyBudget } from "./body-budget.js";
import { asConnectError } from "./call-error.js";
import { httpStatusOf } from "./http-status.js";
import { readJsonBody, sendJson } from "./json-body.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** The most a management request body may hold: stream configurations are small. */
const SSF_READ_MAX_BYTES = 64 * 1024;

/** One management call: its success status, whether it has a body, and the domain call. */
interface Route {
  status: 200 | 201 | 204;
  body: boolean;
  run(streams: SsfStreams, caller: Principal, input: { body: unknown; streamId: string | undefined }): Promise<unknown>;
}

/** SSF 1.0 §8.1: the configuration, status and verification endpoints, by path and method. */
const MANAGEMENT: Readonly<Record<string, Readonly<Record<string, Route>>>> = {
  [SSF_PATHS.configuration]: {
    POST: { status: 201, body: true, run: (s, p, i) => s.create(p, i.body) },
    GET: { status: 200, body: false, run: (s, p, i) => s.read(p, i.streamId) },
    PATCH: { status: 200, body: true, run: (s, p, i) => s.update(p, i.body, false) },
    PUT: { status: 200, body: true, run: (s, p, i) => s.update(p, i.body, true) },
    DELETE: { status: 204, body: false, run: (s, p, i) => s.delete(p, i.streamId) },
  },
  [SSF_PATHS.status]: {
    GET: { status: 200, body: false, run: (s, p, i) => s.status(p, i.streamId) },
    POST: { status: 200, body: true, run: (s, p, i) => s.setStatus(p, i.body) },
  },
  [SSF_PATHS.verification]: {
    POST: { status: 204, body: true, run: (s, p, i) => s.verify(p, i.body) },
  },
};

export interface SsfEndpointsDeps {
  streams: SsfStreams;
  keys: Pick<SigningKeys, "jwks">;
  /** This service's issuer (public_url, no trailing slash). */
  issuer: () => string;
  /** server.read_max_bytes: management bodies are held to the smaller of it and SSF_READ_MAX_BYTES. */
  readMaxBytes: number;
  budget: BodyBudget;
}

/**
 * The SSF transmitter's HTTP surface: GET /jwks.json and GET /.well-known/ssf-configuration for
 * anyone, and the stream management endpoints for callers the handler has authenticated.
 * Errors are JSON `{"err", "description"}` with the spec's status codes.
 */
export class SsfEndpoints {
  private readonly readMaxBytes: number;

  constructor(private readonly deps: SsfEndpointsDeps) {
    this.readMaxBytes = Math.min(deps.readMaxBytes, SSF_READ_MAX_BYTES);
  }

  /**
   * What this serves of a request, undefined when its path is none of these: its label for the
   * call line (bounded: unknown methods are not in it), and whether it is answered without a key.
   */
  route(req: Request): { label: string; open: boolean } | undefined {
    const path = pathOf(req);
    const method = req.method ?? "";
    if (path === SSF_PATHS.jwks || path === SSF_PATHS.metadata) return { label: method === "GET" ? `GET ${path}` : path, open: true };
    const routes = MANAGEMENT[path];
    if (!routes) return undefined;
    // A method the path does not take is answered 405 before any key is asked for.
    return Object.hasOwn(routes, method) ? { label: `${method} ${path}`, open: false } : { label: path, open: true };
  }

  /** Answers what needs no key: the two documents, and 405 for a method a path does not take. Returns the call line's code. */
  serveOpen(req: Request, res: Response): string {
    const path = pathOf(req);
    const allowed = MANAGEMENT[path] ? Object.keys(MANAGEMENT[path]) : ["GET"];
    if (!allowed.includes(req.method ?? "")) {
      sendError(res, 405, "METHOD_NOT_ALLOWED", `${path} takes ${allowed.join(", ")}`, { allow: allowed.join(", ") });
      return "UNIMPLEMENTED";
    }
    const issuer = this.deps.issuer();
    const document = path === SSF_PATHS.jwks ? this.deps.keys.jwks() : transmitterMetadata(issuer);
    sendJson(res, 200, document, { "cache-control": "max-age=300" });
    return "OK";
  }

  /** Serves a management call of an authenticated caller; returns the call line's code. */
  async serve(req: Request, res: Response, caller: Principal): Promise<string> {
    const route = MANAGEMENT[pathOf(req)]![req.method!]!;
    const held = this.deps.budget.holder();
    res.once("close", () => held.release());
    try {
      // The body of a caller that may not manage streams is never read (the domain checks again).
      requirePermission(caller, "ssf.manage");
      const body = route.body ? await readJsonBody(req, this.readMaxBytes, held) : undefined;
      const answer = await route.run(this.deps.streams, caller, { body, streamId: streamIdOf(req) });
      if (route.status === 204) {
        res.writeHead(204, { "cache-control": "no-store" });
        res.end();
      } else {
        sendJson(res, route.status, answer, { "cache-control": "no-store" });
      }
      return "OK";
    } catch (err) {
      return answerSsfError(res, err);
    }
  }
}

/** A failure as SSF's callers get it: the status the spec gives it, and `{"err", "description"}`. Returns its code name. */
export function answerSsfError(res: Response, err: unknown): string {
  const ce = asConnectError(err);
  const failure = err instanceof Failure ? err : undefined;
  const reason = failure?.reason ?? codeName(ce.code);
  const headers: Record<string, string> = {};
  if (ce.code === Code.Unauthenticated) headers["www-authenticate"] = 'Bearer realm="ssf"';
  if (failure?.retryAfterMs !== undefined) headers["retry-after"] = String(Math.ceil(failure.retryAfterMs / 1000));
  sendError(res, statusOf(ce.code, reason), reason, ce.rawMessage, headers);
  return codeName(ce.code);
}

/** grpc-gateway's status for a code, but 413 for a body too large and 409 for a stream's state (SSF speaks HTTP). */
function statusOf(code: Code, reason: string): number {
  if (reason === "MESSAGE_TOO_LARGE") return 413;
  if (code === Code.FailedPrecondition) return 409;
  return httpStatusOf(code);
}

function sendError(res: Response, status: number, err: string, description: string, headers: Record<string, string>): void {
  sendJson(res, status, { err, description }, { "cache-control": "no-store", ...headers });
}


function pathOf(req: Request): string {
  return (req.url ?? "").split("?", 1)[0]!;
}

/** The stream_id query parameter; empty is absent. */
function streamIdOf(req: Request): string | undefined {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return new URLSearchParams(query < 0 ? "" : url.slice(query + 1)).get("stream_id") || undefined;
}
