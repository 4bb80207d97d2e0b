import { type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { GrpcJsClient } from "./grpc-js.js";

/** One unary call, whatever the client library. */
export type UnaryCall = <I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  input: MessageInitShape<I>,
  headers?: Record<string, string>,
) => Promise<MessageShape<O>>;

export interface ClientUnderTest {
  name: string;
  call: UnaryCall;
  close(): void;
}

function callWith<I extends DescMessage, O extends DescMessage>(transport: Transport, method: DescMethodUnary<I, O>, input: MessageInitShape<I>, headers: Record<string, string>) {
  return transport.unary(method, undefined, 10_000, headers, input, undefined).then((r) => r.message);
}

/** Every client the service promises to serve: grpc-js, connect-node (gRPC, Connect JSON and binary), connect-web gRPC-web. */
export function allClients(baseUrl: string): ClientUnderTest[] {
  const grpcJs = new GrpcJsClient(baseUrl.replace("http://", ""));
  return [
    { name: "@grpc/grpc-js", call: (m, i, h) => grpcJs.call(m, i, h), close: () => grpcJs.close() },
    connectGrpcClient(baseUrl),
    transportClient("connect-node Connect JSON (HTTP/1.1)", createConnectTransport({ baseUrl, httpVersion: "1.1" })),
    transportClient("connect-node Connect binary (HTTP/2)", createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })),
    transportClient("connect-web gRPC-web (fetch)", createGrpcWebTransport({ baseUrl })),
  ];
}

/** The connect-node gRPC (h2c) client of allClients(), alone. */
export function connectGrpcClient(baseUrl: string): ClientUnderTest {
  return transportClient("connect-node gRPC (h2c)", createGrpcTransport({ baseUrl }));
}

function transportClient(name: string, transport: Transport): ClientUnderTest {
  return { name, call: (m, i, h = {}) => callWith(transport, m, i, h), close() {} };
}

/** The gRPC code of a failed call from any client (grpc-js and connect share the numbering). */
export async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof ConnectError) return err.code;
    const code = (err as { code?: unknown }).code;
    if (typeof code === "number") return code as Code;
    throw err;
  }
}
