import net from "node:net";
import { connected, H2Conn } from "../h2-conn.js";
import { pool } from "../clients.js";
import { attackerAddress, sleep, type Attack } from "../attack.js";

/** Time allowed past a timeout for the server's check to run and the close to arrive. */
const SLACK_MS = 5_000;

/**
 * Idle HTTP/2 connections (preface + SETTINGS, then nothing), past max_connections. Checks
 * that the attacker never held more than max_connections at once (the rest closed at once)
 * and that every one was closed by header_timeout_ms + slack (no request ever came).
 * The original crash: heap out of memory at ~16,000-18,000 such connections.
 */
export const idleConnections: Attack = {
  name: "idle-h2-connections",
  what: "HTTP/2 connections that send the preface and SETTINGS, then nothing",
  async run(ctx) {
    const { maxConnections, headerTimeoutMs } = ctx.limits;
    const count = ctx.smoke ? maxConnections + 200 : 4_000;
    const conns: H2Conn[] = [];
    let refused = 0;
    let open = 0;
    let maxOpen = 0;
    const started = Date.now();
    await pool(count, 100, async (i) => {
      try {
        const conn = await H2Conn.open({ port: ctx.server.port, localAddress: attackerAddress(i % 16) });
        conns.push(conn);
        maxOpen = Math.max(maxOpen, ++open);
        conn.socket.once("close", () => open--);
      } catch {
        refused++;
      }
    });
    const openedMs = Date.now() - started;
    // Closed "at once" is not instantaneous: a second after the last connect, those past the bound are gone.
    await sleep(1_000);
    const held = open;
    // Each must be gone by header_timeout_ms (+ slack) after it opened; the last ones opened last.
    const deadline = Date.now() + headerTimeoutMs + SLACK_MS;
    while (open > 0 && Date.now() < deadline) await sleep(250);
    const stillOpen = open;
    for (const c of conns) c.destroy();
    const problems: string[] = [];
    if (held > maxConnections) problems.push(`${held} attacker connections open 1 s after the last connect (max_connections ${maxConnections})`);
    if (stillOpen > 0) problems.push(`${stillOpen} idle connections still open ${(headerTimeoutMs + SLACK_MS) / 1000} s after the last was opened (header_timeout_ms ${headerTimeoutMs})`);
    return {
      load: `${count} conns in ${(openedMs / 1000).toFixed(1)} s, held ≤ ${(headerTimeoutMs + SLACK_MS) / 1000} s`,
      problems,
      notes: [`${refused} refused at connect, ${held} open 1 s after the last connect (at most ${maxOpen} seen at once), ${stillOpen} still open at the end`],
    };
  },
};

/**
 * Slowloris on HTTP/1.1: sockets that send a request line, then one header byte every few
 * seconds, never ending the headers. Each must be closed within header_timeout_ms + slack.
 */
export const slowloris: Attack = {
  name: "slowloris-h1",
  what: "HTTP/1.1 sockets sending one header byte every ~2 s, never finishing the headers",
  async run(ctx) {
    const { headerTimeoutMs } = ctx.limits;
    const count = ctx.smoke ? 300 : 800;
    const everyMs = 2_000;
    const limitMs = headerTimeoutMs + SLACK_MS;
    const sockets: { socket: net.Socket; openedAt: number; closedAt?: number }[] = [];
    const trickle = "X-Slow: " + "a".repeat(10_000);
    await pool(count, 100, async (i) => {
      const socket = net.connect({ host: "127.0.0.1", port: ctx.server.port, localAddress: attackerAddress(i % 16) });
      socket.on("error", () => {});
      // Read what the server sends, so that its close (after a 408) is seen at once.
      socket.resume();
      const entry: (typeof sockets)[number] = { socket, openedAt: Date.now() };
      socket.once("close", () => (entry.closedAt = Date.now()));
      sockets.push(entry);
      try {
        await connected(socket);
        socket.write("POST /sessioncontrol.v1.SessionControl/Terminate HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      } catch {
        // counted as closed
      }
    });
    let sent = 0;
    const timer = setInterval(() => {
      for (const s of sockets) if (s.closedAt === undefined && !s.socket.destroyed) s.socket.write(trickle[sent % trickle.length]!);
      sent++;
    }, everyMs);
    const deadline = Date.now() + limitMs + 1_000;
    while (sockets.some((s) => s.closedAt === undefined) && Date.now() < deadline) await sleep(250);
    clearInterval(timer);
    const late = sockets.filter((s) => (s.closedAt ?? Date.now()) - s.openedAt > limitMs);
    const held = sockets.map((s) => (s.closedAt ?? Date.now()) - s.openedAt);
    for (const s of sockets) s.socket.destroy();
    return {
      load: `${count} sockets, 1 byte / ${everyMs / 1000} s`,
      problems: late.length > 0 ? [`${late.length} of ${count} sockets still open after ${limitMs / 1000} s (header_timeout_ms ${headerTimeoutMs} + ${SLACK_MS / 1000} s)`] : [],
      notes: [`held ${(Math.min(...held) / 1000).toFixed(1)}-${(Math.max(...held) / 1000).toFixed(1)} s`],
    };
  },
};
