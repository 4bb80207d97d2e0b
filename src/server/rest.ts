import type http from "node:http";
import type http2 from "node:http2";
import { anyPack, AnySchema } from "@bufbuild/protobuf/wkt";
import { create, createRegistry, toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { DetailsSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { detailsMessage } from "../api/session-message.js";
import type { Principal } from "../auth/principal.js";
import type { CallContext, EndSession } from "../sessions/end-session.js";
import { Failure, invalidArgument } from "../status/failure.js";
import { codeName } from "../status/code-names.js";
import type { BodyBudget } from "./body-budget.js";
import { asConnectError } from "./call-error.js";
import { restTimeoutMs } from "./deadline.js";
import { httpStatusOf } from "./http-status.js";
import { readJsonBody, sendJson } from "./json-body.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const ROUTE = /^\/v2\/sessions\/([^/?#]+)\/?(?:\?.*)?$/;
const DETAIL_REGISTRY = createRegistry(BadRequestSchema, ErrorInfoSchema, RetryInfoSchema);

/**
 * Zitadel's REST form of DeleteSession: `DELETE /v2/sessions/{session_id}` with `{"sessionToken": "..."}`.
 * The handler authenticates it as it does RPC calls; its deadline is capped as theirs are, and
 * its errors are the RPC errors (src/api/connect-error.ts) in grpc-gateway's JSON form.
 */
export class RestSessions {
  constructor(
    private readonly endSession: EndSession,
    private readonly readMaxBytes: number,
    private readonly budget: BodyBudget,
    private readonly maxTimeoutMs: number,
  ) {}

  matches(req: Request): boolean {
    return req.method === "DELETE" && ROUTE.test(req.url ?? "");
  }

  /** Serves an authenticated call; answers its gRPC code name. */
  async serve(req: Request, res: Response, principal: Principal): Promise<string> {
    const held = this.budget.holder();
    const call = restCall(req, this.maxTimeoutMs);
    res.once("close", () => {
      call.end();
      held.release();
    });
    try {
      const sessionId = decodePathSegment(ROUTE.exec(req.url ?? "")![1]!);
      const ended = await call.within(async () => {
        const body = sessionTokenOf(await readJsonBody(req, this.readMaxBytes, held));
        return this.endSession.run(principal, { sessionId, ...body }, call.context);
      });
      sendJson(res, 200, { details: toJson(DetailsSchema, create(DetailsSchema, detailsMessage(ended.details))) });
      return "OK";
    } catch (err) {
      const ce = asConnectError(err);
      answerRestError(res, ce);
      return codeName(ce.code);
    } finally {
      call.end();
    }
  }
}

/** A REST call's context: cancelled when the client leaves, and when its deadline (Grpc-Timeout, at most server.max_timeout_ms) has passed. */
function restCall(req: Request, maxTimeoutMs: number) {
  const controller = new AbortController();
  const timeoutMs = restTimeoutMs(req.headers, maxTimeoutMs);
  const deadline = Date.now() + timeoutMs;
  const timer = setTimeout(() => controller.abort(new Failure("DEADLINE_EXCEEDED", "CALLER_DEADLINE_EXCEEDED", `no answer within the call's deadline (${timeoutMs} ms)`)), timeoutMs);
  timer.unref();
  const twoFactorCode = req.headers["x-2fa-code"];
  const context: CallContext = { signal: controller.signal, deadline, ...(typeof twoFactorCode === "string" && twoFactorCode && { twoFactorCode }) };
  return {
    context,
    /** The work's result, or the deadline's failure when it passes first. */
    within<T>(work: () => Promise<T>): Promise<T> {
      return Promise.race([work(), new Promise<never>((_, reject) => controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true }))]);
    },
    end(): void {
      clearTimeout(timer);
      if (!controller.signal.aborted) controller.abort(new Failure("CANCELED", "CALL_CANCELED", "the client closed the connection before the answer"));
    },
  };
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidArgument([{ field: "session_id", description: "not a valid percent-encoded path segment" }]);
  }
}

/** The session token of a body (`{"sessionToken": "..."}`, or none). */
function sessionTokenOf(parsed: unknown): { sessionToken?: string } {
  if (parsed === undefined) return {};
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Failure("INVALID_ARGUMENT", "INVALID_ARGUMENT", "body must be a JSON object");
  const token = (parsed as Record<string, unknown>)["sessionToken"] ?? (parsed as Record<string, unknown>)["session_token"];
  if (token !== undefined && token !== null && typeof token !== "string") throw new Failure("INVALID_ARGUMENT", "INVALID_ARGUMENT", "sessionToken must be a string");
  return typeof token === "string" ? { sessionToken: token } : {};
}

/** An RPC error in grpc-gateway's JSON form, with the code's HTTP status. */
export function answerRestError(res: Response, ce: ConnectError): void {
  sendJson(res, httpStatusOf(ce.code), { code: ce.code, message: ce.rawMessage, details: ce.details.map(detailJson) });
}

/** An error detail in google.protobuf.Any's JSON form: `{"@type": "...", ...fields}`. */
function detailJson(detail: ConnectError["details"][number]): unknown {
  if ("desc" in detail) {
    const message = create(detail.desc, detail.value as MessageShape<DescMessage>);
    return toJson(AnySchema, anyPack(detail.desc, message), { registry: DETAIL_REGISTRY });
  }
  return { "@type": `type.googleapis.com/${detail.type}`, value: Buffer.from(detail.value).toString("base64") };
}

