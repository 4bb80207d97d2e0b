import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape, create } from "@bufbuild/protobuf";

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
