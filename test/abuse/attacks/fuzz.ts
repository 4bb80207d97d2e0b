import fc from "fast-check";
import type { DescService } from "@bufbuild/protobuf";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { SessionControl } from "../../../gen/sessioncontrol/v1/session_control_pb.js";
import { answerCode, PROTOCOLS, request, serverFault, type CallShape, type Protocol } from "../protocols.js";
import { H1Client, H2Client } from "../raw-http.js";
import { attackerAddress, type Attack } from "../attack.js";

const paths = (s: DescService) => s.methods.map((m) => `/${s.typeName}/${m.name}`);
// Health/Watch is left out: a valid request opens a stream that lasts until max_timeout_ms, longer than a fuzzed call waits (Check takes the same message).
const PATHS = [...paths(SessionControl), ...paths(SessionService), ...paths(Health).filter((p) => !p.endsWith("/Watch"))];

/** Header values a client can send (visible ASCII): the server must cope with any of them. */
const token = fc.stringMatching(/^[\x21-\x7e]{0,24}$/);

/** Bytes shaped like protobuf: fields with random numbers and wire types, lengths that may lie. */
const protobufish = fc
  .array(
    fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom(0, 1, 2, 5, 3, 7), fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 300 })),
    { maxLength: 12 },
  )
  .map((fields) =>
    Buffer.concat(
      fields.map(([field, wire, bytes, length]) => {
        const key = Buffer.from([((field << 3) | wire) & 0x7f, ...(field >= 16 ? [1] : [])]);
        if (wire === 2) return Buffer.concat([key, Buffer.from([Math.min(length, 127)]), bytes]);
        return Buffer.concat([key, bytes.subarray(0, wire === 1 ? 8 : wire === 5 ? 4 : 10)]);
      }),
    ),
  );

const FIELDS = ["sessionId", "session_id", "sessionToken", "requestId", "userId", "reason", "provider", "providers", "providerUserIds", "pageSize", "pageToken", "service", "startTime", "lifetime", "metadata", "options", "id"];
const jsonText = fc.oneof(
  fc.json(),
  fc.dictionary(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 2 })).map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 200 }),
);
const message = fc.oneof(protobufish, fc.uint8Array({ maxLength: 300 }), jsonText.map((t) => Buffer.from(t, "utf8")));

const CONTENT_TYPES = ["application/grpc", "application/grpc+proto", "application/grpc+json", "application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text", "application/proto", "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", ""];
const ENCODINGS = ["gzip", "br", "identity", "deflate", "zstd", "x-unknown", ""];

const headers = fc.record(
  {
    "connect-protocol-version": fc.oneof(fc.constantFrom("1", "2", "0"), token),
    "grpc-timeout": fc.oneof(fc.constantFrom("1S", "100m", "99999999H", "0n", "-1S"), token),
    "connect-timeout-ms": fc.oneof(fc.constantFrom("0", "1", "4294967296", "-5"), token),
    "grpc-encoding": fc.constantFrom(...ENCODINGS),
    "content-encoding": fc.constantFrom(...ENCODINGS),
    "connect-content-encoding": fc.constantFrom(...ENCODINGS),
    "grpc-accept-encoding": fc.constantFrom(...ENCODINGS),
    "x-2fa-code": token,
    "x-random": token,
  },
  { requiredKeys: [] },
);

type Caller = "admin" | "none" | "wrong";

const call = (protocol: Protocol) =>
  fc.record({
    path: protocol === "rest" ? fc.oneof(fc.stringMatching(/^[0-9a-f]{1,40}$/), fc.string({ minLength: 1, maxLength: 40 })) : fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PATHS) }, { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `/${encodeURIComponent(s)}`) }),
    message,
    gzip: fc.boolean(),
    headers,
    // Mostly the protocol's own content type, so that bodies reach the parsers.
    contentType: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom(...CONTENT_TYPES), token) }),
    frame: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.record({ flag: fc.integer({ min: 0, max: 255 }), declared: fc.integer({ min: 0, max: 2 ** 32 - 1 }), bare: fc.boolean() }, { requiredKeys: [] }) }),
    caller: fc.constantFrom<Caller>("admin", "admin", "admin", "none", "wrong"),
    h2: fc.boolean(),
  });

/**
 * Property-based fuzzing of every protocol's bodies (fast-check): gRPC framed, gRPC-web,
 * Connect binary, JSON and GET, and REST JSON; compressed or not, with random headers and
 * content types, as the admin, without a key, or with a wrong one. No client-made input may
 * get a 5xx, INTERNAL or UNKNOWN, or no answer at all. Fixed seed with --smoke.
 */
export const fuzz: Attack = {
  name: "fuzz-all-protocols",
  what: "fast-check: random bodies, headers and content types on every protocol",
  async run(ctx) {
    const runs = ctx.smoke ? 120 : 2_000;
    const timeLimitMs = ctx.smoke ? 30_000 : 60_000;
    // Known callers on one address, unknown ones on another: the limit on failed keys must not stop the fuzzing of bodies.
    const clients = {
      known: { h1: new H1Client(ctx.server.port, attackerAddress(3)), h2: new H2Client(ctx.server.port, attackerAddress(3)) },
      unknown: { h1: new H1Client(ctx.server.port, attackerAddress(4)), h2: new H2Client(ctx.server.port, attackerAddress(4)) },
    };
    const faults: string[] = [];
    let sent = 0;
    const codes: Record<string, number> = {};
    const faultCodes: Record<string, number> = {};
    try {
      for (const [i, protocol] of PROTOCOLS.entries()) {
        await fc.assert(
          fc.asyncProperty(call(protocol), async (c) => {
            const auth = c.caller === "admin" ? `Bearer ${ctx.server.keys.admin}` : c.caller === "wrong" ? "Bearer sck_wrong" : undefined;
            const shape: CallShape = { protocol, path: c.path, message: c.message, gzip: c.gzip, headers: { ...c.headers, ...(c.contentType !== undefined && { "content-type": c.contentType }), ...(auth && { authorization: auth }) }, ...(c.frame && { frame: c.frame }) };
            // gRPC is HTTP/2 only; every other protocol is tried on both.
            const pair = c.caller === "admin" ? clients.known : clients.unknown;
            const via = protocol === "grpc" || c.h2 ? pair.h2 : pair.h1;
            sent++;
            let code: string;
            let fault: boolean;
            try {
              const req = request(shape);
              const answer = await via.send(req);
              code = answerCode(req, answer);
              fault = serverFault(answer, code);
              if (answer.status >= 500) code = `${code} (HTTP ${answer.status})`;
            } catch (err) {
              code = `no answer: ${(err as Error).message}`;
              fault = true;
            }
            codes[`${protocol} ${code.slice(0, 60)}`] = (codes[`${protocol} ${code.slice(0, 60)}`] ?? 0) + 1;
            if (fault) faultCodes[`${protocol} ${code.slice(0, 60)}`] = (faultCodes[`${protocol} ${code.slice(0, 60)}`] ?? 0) + 1;
            if (fault && faults.length < 20) faults.push(`${protocol} ${c.path.slice(0, 60)} ${JSON.stringify(c.headers).slice(0, 160)} gzip=${c.gzip} body=${Buffer.from(c.message).subarray(0, 24).toString("hex")}…: ${code}`);
          }),
          { seed: ctx.seed + i, numRuns: runs, interruptAfterTimeLimit: timeLimitMs / PROTOCOLS.length, markInterruptAsFailure: false },
        );
      }
    } finally {
      for (const pair of Object.values(clients)) {
        pair.h1.close();
        pair.h2.close();
      }
    }
    const faulty = Object.entries(faultCodes);
    return {
      load: `${sent} calls, seed ${ctx.seed}`,
      problems: faults.length > 0 ? [`${faulty.reduce((n, [, v]) => n + v, 0)} faulty answers (${faulty.map(([k, v]) => `${k}: ${v}`).join("; ")}); e.g. ${faults.slice(0, 5).join(" | ")}`] : [],
      notes: [`answers: ${Object.entries(codes).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${k} ${v}`).join(", ")}`],
    };
  },
};
