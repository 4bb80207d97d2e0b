import { Pool, errors as undiciErrors } from "undici";
import { ProviderFailure } from "../status/provider-failure.js";
import type { MappingTable } from "../status/table.js";

export interface UpstreamRequest {
  method: "GET" | "POST" | "DELETE";
  /** Path below the base URL, already percent-encoded; it may carry a query. */
  path: string;
  headers?: Record<string, string>;
  /** A JSON body (objects) or a form body (URLSearchParams). */
  body?: object | URLSearchParams;
  signal: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  /** The parsed JSON body; undefined when the body is empty or not JSON. */
  json: unknown;
  text: string;
  /** The answer's headers, names in lower case; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
}

/** Largest upstream answer read; anything longer is cut off as malformed. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * HTTP to one upstream over a small pool of keep-alive connections. Failures of the
 * connection come back as ProviderFailure with a `transport.*` code for the mapping layer.
 */
export class UpstreamHttp {
  private readonly pool: Pool;
  private readonly basePath: string;
  private opened = 0;

  constructor(
    private readonly provider: string,
    /** The provider's mapping table, which classifies the failures of the connection too. */
    private readonly table: MappingTable,
    baseUrl: string,
    maxConnections: number,
  ) {
    const url = new URL(baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.pool = new Pool(url.origin, { connections: maxConnections, keepAliveTimeout: 30_000, pipelining: 1 });
    this.pool.on("connect", () => this.opened++);
  }

  /** Connections opened since start: pooling keeps this small. */
  get connectionsOpened(): number {
    return this.opened;
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { accept: "application/json", ...req.headers };
    let body: string | undefined;
    if (req.body instanceof URLSearchParams) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = req.body.toString();
    } else if (req.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(req.body);
    }
    try {
      const res = await this.pool.request({ method: req.method, path: this.basePath + req.path, headers, body, signal: req.signal });
      const text = await readCapped(res.body, MAX_ANSWER_BYTES);
      return { status: res.statusCode, json: parseJson(text), text, headers: flatHeaders(res.headers) };
    } catch (err) {
      throw this.failure(err, req.signal);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private failure(err: unknown, signal: AbortSignal): ProviderFailure {
    if (err instanceof ProviderFailure) return err;
    // The caller of request() aborts with a ProviderFailure saying why (timeout, deadline, cancel).
    if (signal.aborted && signal.reason instanceof ProviderFailure) return signal.reason;
    const code = (err as { code?: string }).code ?? "";
    const refused = ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"].includes(code);
    const kind = refused ? "transport.refused" : err instanceof undiciErrors.ResponseExceededMaxSizeError ? "transport.malformed" : "transport.reset";
    return new ProviderFailure(this.provider, { code: kind, message: `${code || "error"}: ${(err as Error).message}` }, this.table);
  }
}

async function readCapped(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new undiciErrors.ResponseExceededMaxSizeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  return flat;
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
