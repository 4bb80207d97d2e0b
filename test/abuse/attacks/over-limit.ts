import { randomBytes } from "node:crypto";
import { pool } from "../clients.js";
import { answerCode, request, type CallShape, type Protocol } from "../protocols.js";
import { H1Client, H2Client } from "../raw-http.js";
import { attackerAddress, type Attack } from "../attack.js";

const TERMINATE = "/sessioncontrol.v1.SessionControl/Terminate";

/**
 * Bodies of read_max_bytes + 1, authenticated, on every protocol, as junk and as gzip (a
 * small compressed body that inflates past the limit): each must be RESOURCE_EXHAUSTED,
 * whatever its content.
 */
export const overLimit: Attack = {
  name: "bodies-over-limit",
  what: "read_max_bytes + 1 byte bodies (junk, and gzip that inflates past the limit) on every protocol",
  async run(ctx) {
    const size = ctx.limits.readMaxBytes + 1;
    const junk = randomBytes(size);
    const zeros = Buffer.alloc(size);
    const repeats = ctx.smoke ? 2 : 10;
    const auth = { authorization: `Bearer ${ctx.server.keys.admin}` };
    const protocols: Protocol[] = ["grpc", "grpc-web", "connect-proto", "connect-json", "rest"];
    const shapes: { label: string; shape: CallShape; h2: boolean }[] = protocols.flatMap((protocol) => [
      { label: `${protocol} junk`, h2: protocol === "grpc", shape: { protocol, path: protocol === "rest" ? "s1" : TERMINATE, message: junk, headers: auth } },
      // REST takes no Content-Encoding: its gzip body is small junk, not an over-limit one.
      ...(protocol === "rest" ? [] : [{ label: `${protocol} gzip`, h2: protocol === "grpc", shape: { protocol, path: TERMINATE, message: zeros, gzip: true, headers: auth } }]),
    ]);
    shapes.push({ label: "connect-proto junk (h2)", h2: true, shape: { protocol: "connect-proto", path: TERMINATE, message: junk, headers: auth } });
    const h1 = new H1Client(ctx.server.port, attackerAddress(0));
    const h2 = new H2Client(ctx.server.port, attackerAddress(0));
    const wrong: string[] = [];
    const seen: Record<string, number> = {};
    try {
      await pool(shapes.length * repeats, 4, async (i) => {
        const { label, shape, h2: useH2 } = shapes[i % shapes.length]!;
        const req = request(shape);
        let code: string;
        try {
          code = answerCode(req, await (useH2 ? h2 : h1).send(req));
        } catch (err) {
          code = `no answer (${(err as Error).message})`;
        }
        seen[code] = (seen[code] ?? 0) + 1;
        if (code !== "RESOURCE_EXHAUSTED" && wrong.length < 12) wrong.push(`${label}: ${code}`);
      });
    } finally {
      h1.close();
      h2.close();
    }
    return {
      load: `${shapes.length} shapes × ${repeats} of ${size} bytes`,
      problems: wrong.length > 0 ? [`not RESOURCE_EXHAUSTED: ${[...new Set(wrong)].join("; ")}`] : [],
      notes: [`answers: ${JSON.stringify(seen)}`],
    };
  },
};
