import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type DescMethodServerStreaming, type DescMethodUnary, type MessageInitShape, type MessageShape, create } from "@bufbuild/protobuf";

/** A plain @grpc/grpc-js client whose messages are encoded with the generated protobuf-es schemas. */
export class GrpcJsClient {
  readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageInitShape<I>,
    headers: Record<string, string> = {},
  ): Promise<MessageShape<O>> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/${method.parent.typeName}/${method.name}`,
        (m: MessageShape<I>) => Buffer.from(toBinary(method.input, m)),
        (b: Buffer) => fromBinary(method.output, b),
        create(method.input, input),
        metadata,
        (err, res) => (err ? reject(err) : resolve(res!)),
      );
    });
  }

  /**
   * A server-streaming call: its messages as they arrive; the call's error (a grpc.ServiceError,
   * with its numeric code) is thrown by the iteration. Aborting `signal` cancels the call.
   */
  async *serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    input: MessageInitShape<I>,
    headers: Record<string, string> = {},
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): AsyncGenerator<MessageShape<O>> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    const call = this.client.makeServerStreamRequest(
      `/${method.parent.typeName}/${method.name}`,
      (m: MessageShape<I>) => Buffer.from(toBinary(method.input, m)),
      (b: Buffer) => fromBinary(method.output, b),
      create(method.input, input),
      metadata,
      opts.timeoutMs === undefined ? {} : { deadline: Date.now() + opts.timeoutMs },
    );
    const cancel = () => call.cancel();
    opts.signal?.addEventListener("abort", cancel, { once: true });
    try {
      for await (const message of call) yield message as MessageShape<O>;
    } finally {
      opts.signal?.removeEventListener("abort", cancel);
      call.cancel();
    }
  }

  /** Sends raw bytes as the request message, to test how the server treats them. */
  callRaw(path: string, bytes: Buffer, headers: Record<string, string> = {}): Promise<Buffer> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  close(): void {
    this.client.close();
  }
}
