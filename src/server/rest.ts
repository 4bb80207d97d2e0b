import type http from "node:http";
import type http2 from "node:http2";
import { anyPack, AnySchema } from "@bufbuild/protobuf/wkt";
import { create, createRegistry, toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { DetailsSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { CallContext, TerminateAction } from "../api/terminate.js";
import { codeName, serviceError } from "../status/errors.js";
import type { Authenticate } from "./authenticate.js";
import { BodyBytes, type BodyBudget, type BudgetHolder } from "./body-budget.js";
import { httpStatusOf } from "./http-status.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const ROUTE = /^\/v2\/sessions\/([^/?#]+)\/?(?:\?.*)?$/;
const DETAIL_REGISTRY = createRegistry(BadRequestSchema, ErrorInfoSchema, RetryInfoSchema);

export interface RestOutcome {
  code: string;
  principal?: string;
}

/** Zitadel's REST form of DeleteSession: `DELETE /v2/sessions/{session_id}` with `{"sessionToken": "..."}`. */
export class RestSessions {
  constructor(
    private readonly authenticate: Authenticate,
    private readonly terminate: TerminateAction,
    private readonly readMaxBytes: number,
    private readonly budget: BodyBudget,
  ) {}

  matches(req: Request): boolean {
    return req.method === "DELETE" && ROUTE.test(req.url ?? "");
  }

  async serve(req: Request, res: Response): Promise<RestOutcome> {
    const outcome: RestOutcome = { code: "OK" };
    const aborted = new AbortController();
    const held = this.budget.holder();
    res.once("close", () => {
      aborted.abort();
      held.release();
    });
    try {
      // From the headers alone: an unknown caller's body is never read.
      const auth = await this.authenticate(req.headers, req.socket?.remoteAddress);
      if ("refusal" in auth) throw auth.refusal;
      const { principal } = auth;
      outcome.principal = principal.name;
      const sessionId = decodePathSegment(ROUTE.exec(req.url ?? "")![1]!);
      const body = await readJsonBody(req, this.readMaxBytes, held);
      const result = await this.terminate.run(principal, { sessionId, sessionToken: body.sessionToken }, callContext(req, aborted.signal));
      send(res, 200, { details: result.details ? toJson(DetailsSchema, result.details) : {} });
    } catch (err) {
      const ce = ConnectError.from(err);
      outcome.code = codeName(ce.code);
      send(res, httpStatusOf(ce.code), { code: ce.code, message: ce.rawMessage, details: ce.details.map(detailJson) });
    }
    return outcome;
  }
}

function callContext(req: Request, signal: AbortSignal): CallContext {
  const twoFactorCode = req.headers["x-2fa-code"];
  return { signal, ...(typeof twoFactorCode === "string" && twoFactorCode && { twoFactorCode }) };
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw serviceError(Code.InvalidArgument, "INVALID_ARGUMENT", "session_id: not a valid percent-encoded path segment");
  }
}

async function readJsonBody(req: Request, limit: number, held: BudgetHolder): Promise<{ sessionToken?: string }> {
  const body = new BodyBytes(held, limit);
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (body.length + chunk.length > limit) throw serviceError(Code.ResourceExhausted, "MESSAGE_TOO_LARGE", `request body exceeds ${limit} bytes`);
    body.append(chunk);
  }
  const text = body.bytes().toString("utf8").trim();
  if (text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw serviceError(Code.InvalidArgument, "INVALID_ARGUMENT", "body is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw serviceError(Code.InvalidArgument, "INVALID_ARGUMENT", "body must be a JSON object");
  const token = (parsed as Record<string, unknown>)["sessionToken"] ?? (parsed as Record<string, unknown>)["session_token"];
  if (token !== undefined && token !== null && typeof token !== "string") throw serviceError(Code.InvalidArgument, "INVALID_ARGUMENT", "sessionToken must be a string");
  return typeof token === "string" ? { sessionToken: token } : {};
}

/** An error detail in google.protobuf.Any's JSON form: `{"@type": "...", ...fields}`. */
function detailJson(detail: ConnectError["details"][number]): unknown {
  if ("desc" in detail) {
    const message = create(detail.desc, detail.value as MessageShape<DescMessage>);
    return toJson(AnySchema, anyPack(detail.desc, message), { registry: DETAIL_REGISTRY });
  }
  return { "@type": `type.googleapis.com/${detail.type}`, value: Buffer.from(detail.value).toString("base64") };
}

function send(res: Response, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
