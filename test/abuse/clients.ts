import net from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

/** A connect-node gRPC client on its own HTTP/2 connection from `localAddress`. */
export interface OwnConnectionClient<S extends DescService> {
  client: Client<S>;
  close(): void;
}

export function grpcClient<S extends DescService>(service: S, port: number, localAddress = "127.0.0.1"): OwnConnectionClient<S> {
  const baseUrl = `http://127.0.0.1:${port}`;
  const sessionManager = new Http2SessionManager(baseUrl, undefined, {
    createConnection: () => net.connect({ host: "127.0.0.1", port, localAddress }),
  });
  return { client: createClient(service, createGrpcTransport({ baseUrl, sessionManager })), close: () => sessionManager.abort() };
}

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** The gRPC code of a call's outcome: "OK", or the code's name (connect's numbering is gRPC's). */
export async function outcome(call: Promise<unknown>): Promise<{ code: string; error?: ConnectError }> {
  try {
    await call;
    return { code: "OK" };
  } catch (err) {
    const error = ConnectError.from(err);
    return { code: codeName(error.code), error };
  }
}

export function codeName(code: Code): string {
  const name = Code[code] as string | undefined;
  return name === undefined ? `CODE ${code}` : name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Runs `task` for 0..count-1 with at most `concurrency` at once; stops starting new ones once `until` has passed. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>, until = Infinity): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < count && Date.now() < until) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return next;
}
