import http2 from "node:http2";

export interface SessionGuardOptions {
  /** A connection must open its first stream within this time. */
  headerTimeoutMs: number;
  /** A connection with no stream open for this long is closed with GOAWAY. */
  idleTimeoutMs: number;
  /** Told when the connection is closed for a flood. */
  onFlood?: () => void;
}

/**
 * Frames a peer may make the server handle per second on one connection. nghttp2 (1.61 in
 * Node.js 20) already bounds unanswered PING and SETTINGS ACKs, CONTINUATION frames per header
 * block and a burst of RST_STREAM; these rates also stop floods from clients that read their
 * ACKs, so that they cost only their own connection.
 */
const PER_SECOND = { resets: 200, pings: 50, settings: 50 } as const;
const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** Header and idle timeouts and frame-flood limits for one HTTP/2 connection. */
export function guardSession(session: http2.ServerHttp2Session, opts: SessionGuardOptions): void {
  // The server reports session errors as 'sessionError'; this keeps a destroyed session quiet.
  session.on("error", () => {});
  let open = 0;
  let idle: NodeJS.Timeout | undefined;
  const first = setTimeout(() => session.destroy(), opts.headerTimeoutMs).unref();
  const counts = { resets: 0, pings: 0, settings: 0, since: Date.now() };
  const count = (kind: keyof typeof PER_SECOND) => {
    const now = Date.now();
    if (now - counts.since >= 1000) Object.assign(counts, { resets: 0, pings: 0, settings: 0, since: now });
    if (++counts[kind] <= PER_SECOND[kind] || session.destroyed) return;
    opts.onFlood?.();
    session.destroy(new Error(`too many ${kind} per second`), NGHTTP2_ENHANCE_YOUR_CALM);
  };

  session.on("stream", (stream) => {
    clearTimeout(first);
    open++;
    stream.once("close", () => {
      // Reset by either side (the peer's resets, or this server's for a body past its time): each counts.
      if (stream.rstCode) count("resets");
      if (--open > 0 || session.destroyed) return;
      if (idle) idle.refresh();
      else idle = setTimeout(() => open === 0 && session.destroy(), opts.idleTimeoutMs).unref();
    });
  });
  session.on("ping", () => count("pings"));
  session.on("remoteSettings", () => count("settings"));
  session.once("close", () => {
    clearTimeout(first);
    clearTimeout(idle);
  });
}
