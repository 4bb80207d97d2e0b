import { Agent, request } from "undici";

/** What a receiver answered: its status, its Retry-After header, and the start of its body. */
export interface ReceiverAnswer {
  status: number;
  retryAfter?: string;
  /** At most MAX_ANSWER_BYTES of the body (RFC 8935 error bodies are small). */
  text: string;
}

/** Bytes of a receiver's answer that are read; the rest is discarded unread. */
const MAX_ANSWER_BYTES = 4096;

/**
 * POSTs to receivers over keep-alive connections. The connections to an origin are not capped here:
 * each subscriber's loop caps its own attempts, and subscribers sharing an origin must not wait on each other.
 */
export class ReceiverHttp {
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, pipelining: 1 });

  /** One POST; `signal` bounds it, answer included. Throws on a connection failure, a timeout or an abort. */
  async post(endpoint: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<ReceiverAnswer> {
    const res = await request(endpoint, { dispatcher: this.agent, method: "POST", headers, body, signal });
    const retryAfter = res.headers["retry-after"];
    const text = await readStart(res.body, MAX_ANSWER_BYTES);
    return { status: res.statusCode, text, ...(typeof retryAfter === "string" && { retryAfter }) };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** The first `limit` bytes of a body; the rest is not read (leaving the loop early closes the stream). */
async function readStart(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit).toString("utf8");
}
