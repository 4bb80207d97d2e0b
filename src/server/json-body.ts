import type http from "node:http";
import type http2 from "node:http2";
import { Failure } from "../status/failure.js";
import { BodyBytes, type BudgetHolder } from "./body-budget.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;

/** A request's body read whole as text, within `limit` bytes held from the call's budget, trimmed. */
export async function readBodyText(req: Request, limit: number, held: BudgetHolder): Promise<string> {
  const body = new BodyBytes(held, limit);
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (body.length + chunk.length > limit) throw new Failure("RESOURCE_EXHAUSTED", "MESSAGE_TOO_LARGE", `request body exceeds ${limit} bytes`);
    body.append(chunk);
  }
  return body.bytes().toString("utf8").trim();
}

/** A request's body read as by readBodyText and parsed as JSON; an empty body is undefined. */
export async function readJsonBody(req: Request, limit: number, held: BudgetHolder): Promise<unknown> {
  const text = await readBodyText(req, limit, held);
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Failure("INVALID_ARGUMENT", "INVALID_ARGUMENT", "body is not valid JSON");
  }
}

/** Answers `body` as JSON with `status` (after headers already sent, only ends the answer). */
export function sendJson(res: http.ServerResponse | http2.Http2ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}
