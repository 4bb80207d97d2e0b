import net from "node:net";
import { FrameType, Flag, PREFACE, Setting, settings, settingsAck, ping, data, DEFAULT_MAX_FRAME, windowUpdate } from "./h2-frames.js";

export interface H2ConnOptions {
  port: number;
  /** The attacker's own loopback address (127.0.0.2 and up), so per-address limits spare the normal client. */
  localAddress: string;
  /** Our SETTINGS: by default none, as a minimal client. */
  settings?: [number, number][];
  /** Answer the server's SETTINGS and PING (a polite client); floods set this off. */
  polite?: boolean;
}

/** What the server did to a connection and its streams, as the attacker saw it. */
export interface H2Seen {
  /** Streams the server answered with HEADERS. */
  answered: number;
  /** Streams the server reset (RST_STREAM). */
  reset: number;
  goaway?: { lastStreamId: number; code: number };
  /** Bytes received from the server. */
  bytesIn: number;
}

/**
 * One HTTP/2 connection on a bare socket: writes the preface and our SETTINGS, reads the
 * server's frames just far enough to follow flow control and see refusals, and sends
 * whatever frames the attack writes. Nothing is decoded beyond the frame header.
 */
export class H2Conn {
  readonly seen: H2Seen = { answered: 0, reset: 0, bytesIn: 0 };
  closed = false;
  /** ms since the epoch when the socket closed. */
  closedAt: number | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private nextStream = 1;
  /** What the server lets us send: on the connection, per stream, and to a new stream. */
  private connectionWindow = 65_535;
  private readonly streamWindows = new Map<number, number>();
  private initialWindow = 65_535;
  private maxFrame = DEFAULT_MAX_FRAME;
  private windowWaiters: (() => void)[] = [];
  readonly endedStreams = new Set<number>();

  private constructor(
    readonly socket: net.Socket,
    private readonly polite: boolean,
  ) {
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("error", () => {});
    socket.once("close", () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.wakeWindowWaiters();
    });
  }

  static async open(opts: H2ConnOptions): Promise<H2Conn> {
    const socket = net.connect({ host: "127.0.0.1", port: opts.port, localAddress: opts.localAddress });
    socket.setNoDelay(true);
    await connected(socket);
    const conn = new H2Conn(socket, opts.polite ?? true);
    socket.write(Buffer.concat([PREFACE, settings(opts.settings ?? [])]));
    return conn;
  }

  /** A fresh client stream id (odd, increasing). */
  newStream(): number {
    const id = this.nextStream;
    this.nextStream += 2;
    this.streamWindows.set(id, this.initialWindow);
    return id;
  }

  /** Writes raw bytes; resolves when the socket takes more (backpressure): false once closed, or when `until` passed first. */
  async write(bytes: Uint8Array, until = Infinity): Promise<boolean> {
    if (this.closed) return false;
    if (!this.socket.write(bytes)) await drained(this.socket, until);
    return !this.closed && this.socket.writableLength < this.socket.writableHighWaterMark;
  }

  /**
   * Sends body bytes within the server's flow-control windows; true once all are sent, false
   * when the stream or connection ended first or `until` (ms since the epoch) came.
   */
  async sendData(streamId: number, body: Uint8Array, until = Infinity): Promise<boolean> {
    for (let at = 0; at < body.length; ) {
      if (this.closed || this.endedStreams.has(streamId) || Date.now() >= until) return false;
      const window = Math.min(this.connectionWindow, this.streamWindows.get(streamId) ?? 0);
      if (window <= 0) {
        await this.windowChange(until);
        continue;
      }
      const n = Math.min(window, this.maxFrame, body.length - at);
      this.connectionWindow -= n;
      this.streamWindows.set(streamId, (this.streamWindows.get(streamId) ?? 0) - n);
      if (!(await this.write(data(streamId, body.subarray(at, at + n)), until))) return false;
      at += n;
    }
    return true;
  }

  /** The attacker's own end of a stream (after RST_STREAM): stop tracking its window. */
  forget(streamId: number): void {
    this.streamWindows.delete(streamId);
  }

  private windowChange(until: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(until) ? setTimeout(resolve, Math.max(0, until - Date.now())) : undefined;
      this.windowWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wakeWindowWaiters(): void {
    const waiters = this.windowWaiters;
    this.windowWaiters = [];
    for (const w of waiters) w();
  }

  private read(chunk: Buffer): void {
    this.seen.bytesIn += chunk.length;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) break;
      const type = this.pending[3]!;
      const flags = this.pending[4]!;
      const streamId = this.pending.readUInt32BE(5) & 0x7fffffff;
      const payload = this.pending.subarray(9, 9 + length);
      this.pending = this.pending.subarray(9 + length);
      this.onFrame(type, flags, streamId, payload);
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    switch (type) {
      case FrameType.SETTINGS:
        if (flags & Flag.ACK) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const id = payload.readUInt16BE(i);
          const value = payload.readUInt32BE(i + 2);
          if (id === Setting.INITIAL_WINDOW_SIZE) {
            for (const [s, w] of this.streamWindows) this.streamWindows.set(s, w + value - this.initialWindow);
            this.initialWindow = value;
          } else if (id === Setting.MAX_FRAME_SIZE) this.maxFrame = value;
        }
        if (this.polite) this.socket.write(settingsAck());
        this.wakeWindowWaiters();
        return;
      case FrameType.PING:
        if (this.polite && !(flags & Flag.ACK)) this.socket.write(ping(payload, true));
        return;
      case FrameType.WINDOW_UPDATE: {
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) this.connectionWindow += increment;
        else if (this.streamWindows.has(streamId)) this.streamWindows.set(streamId, this.streamWindows.get(streamId)! + increment);
        this.wakeWindowWaiters();
        return;
      }
      case FrameType.HEADERS:
        // Only the first HEADERS of a stream counts: trailers follow the response headers.
        if (!this.endedStreams.has(streamId)) this.seen.answered++;
        if (flags & Flag.END_STREAM) this.endStream(streamId);
        return;
      case FrameType.DATA:
        // Keep the server able to answer: give back what it sent.
        if (payload.length > 0 && this.polite) this.socket.write(Buffer.concat([windowUpdate(0, payload.length), windowUpdate(streamId, payload.length)]));
        if (flags & Flag.END_STREAM) this.endStream(streamId);
        return;
      case FrameType.RST_STREAM:
        this.seen.reset++;
        this.endStream(streamId);
        return;
      case FrameType.GOAWAY:
        this.seen.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
        return;
    }
  }

  private endStream(streamId: number): void {
    this.endedStreams.add(streamId);
    this.streamWindows.delete(streamId);
    this.wakeWindowWaiters();
  }
}

/** Resolves when the socket drains or closes, or at `until`; never rejects. */
export function drained(socket: net.Socket, until = Infinity): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    const timer = Number.isFinite(until) ? setTimeout(done, Math.max(0, until - Date.now())) : undefined;
    socket.once("drain", done);
    socket.once("close", done);
  });
}

/** Resolves once connected; rejects when the socket closes first. */
export function connected(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!socket.connecting && !socket.destroyed) return resolve();
    socket.once("connect", () => resolve());
    socket.once("close", () => reject(new Error("closed before connecting")));
  });
}

/** Resolves when the socket closes, or after `ms`; never rejects. */
export function closedWithin(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(resolve, ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
