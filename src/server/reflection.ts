import {
  create,
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescFile,
  type DescMessage,
  type DescService,
  type FileRegistry,
  type MessageShape,
} from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  ErrorResponseSchema,
  ExtensionNumberResponseSchema,
  FileDescriptorResponseSchema,
  ListServiceResponseSchema,
  ServerReflection,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

type Answer = ServerReflectionResponse["messageResponse"];

/**
 * Registers grpc.reflection.v1 and v1alpha ServerReflection describing `services`, and
 * `extraFiles` (e.g. error detail messages, so clients can decode details by reflection).
 */
export function reflectionRoutes(services: DescService[], extraFiles: DescFile[] = [], options: Parameters<ConnectRouter["service"]>[2] = {}): (router: ConnectRouter) => void {
  const reflector = new Reflector(services, extraFiles);
  return (router) => {
    router.service(ServerReflection, { serverReflectionInfo: (requests) => reflector.serve(requests) }, options);
    // v1alpha has the same wire format as v1, so transcode through bytes and share one implementation.
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        const asV1 = mapAsync(requests, (r) => transcode(v1alpha.ServerReflectionRequestSchema, ServerReflectionRequestSchema, r));
        for await (const res of reflector.serve(asV1)) {
          yield transcode(ServerReflectionResponseSchema, v1alpha.ServerReflectionResponseSchema, res);
        }
      },
    }, options);
  };
}

class Reflector {
  private readonly serviceNames: string[];
  private readonly registry: FileRegistry;
  /** Every fully-qualified symbol (types, methods, fields, oneofs, enum values) -> declaring file. */
  private readonly symbols = new Map<string, DescFile>();

  constructor(services: DescService[], extraFiles: DescFile[]) {
    this.serviceNames = [...new Set(services.map((s) => s.typeName))];
    this.registry = buildRegistry([...services.map((s) => s.file), ...extraFiles]);
    for (const file of this.registry.files) this.indexFile(file);
  }

  async *serve(requests: AsyncIterable<ServerReflectionRequest>): AsyncIterable<ServerReflectionResponse> {
    const sent = new Set<string>();
    for await (const req of requests) {
      yield create(ServerReflectionResponseSchema, {
        validHost: req.host,
        originalRequest: req,
        messageResponse: this.answer(req, sent),
      });
    }
  }

  private answer(req: ServerReflectionRequest, sent: Set<string>): Answer {
    const { case: kind, value } = req.messageRequest;
    switch (kind) {
      case "listServices":
        return listServices(this.serviceNames);
      case "fileByFilename":
        return this.files(this.registry.getFile(value), sent) ?? notFound(`file not found: ${value}`);
      case "fileContainingSymbol":
        return this.files(this.symbols.get(value), sent) ?? notFound(`symbol not found: ${value}`);
      case "fileContainingExtension": {
        const extendee = this.registry.getMessage(value.containingType);
        const ext = extendee && this.registry.getExtensionFor(extendee, value.extensionNumber);
        return this.files(ext?.file, sent) ?? notFound(`extension not found: ${value.containingType}(${value.extensionNumber})`);
      }
      case "allExtensionNumbersOfType":
        return this.extensionNumbers(value) ?? notFound(`type not found: ${value}`);
      case undefined:
        return error(Code.InvalidArgument, "empty message_request");
    }
  }

  /** `file` first (always), then its transitive dependencies not yet sent on this stream. */
  private files(file: DescFile | undefined, sent: Set<string>): Answer | undefined {
    if (!file) return undefined;
    const out: DescFile[] = [];
    const visit = (f: DescFile, requested: boolean) => {
      if (sent.has(f.proto.name) && !requested) return;
      sent.add(f.proto.name);
      out.push(f);
      for (const dep of f.dependencies) visit(dep, false);
    };
    visit(file, true);
    const fileDescriptorProto = out.map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
    return { case: "fileDescriptorResponse", value: create(FileDescriptorResponseSchema, { fileDescriptorProto }) };
  }

  private extensionNumbers(typeName: string): Answer | undefined {
    if (!this.registry.getMessage(typeName)) return undefined;
    const extensionNumber: number[] = [];
    for (const desc of this.registry) {
      if (desc.kind === "extension" && desc.extendee.typeName === typeName) extensionNumber.push(desc.number);
    }
    return {
      case: "allExtensionNumbersResponse",
      value: create(ExtensionNumberResponseSchema, { baseTypeName: typeName, extensionNumber }),
    };
  }

  private indexFile(file: DescFile): void {
    for (const desc of nestedTypes(file)) {
      this.symbols.set(desc.typeName, file);
      switch (desc.kind) {
        case "service":
          for (const m of desc.methods) this.symbols.set(`${desc.typeName}.${m.name}`, file);
          break;
        case "message":
          for (const m of [...desc.fields, ...desc.oneofs]) this.symbols.set(`${desc.typeName}.${m.name}`, file);
          break;
        case "enum": {
          // Enum values are scoped like their enum's siblings (C++ scoping rules).
          const scope = desc.parent?.typeName ?? file.proto.package;
          for (const v of desc.values) this.symbols.set(scope ? `${scope}.${v.name}` : v.name, file);
          break;
        }
      }
    }
  }
}

function listServices(names: string[]): Answer {
  const service = names.map((name) => ({ name }));
  return { case: "listServicesResponse", value: create(ListServiceResponseSchema, { service }) };
}

function notFound(message: string): Answer {
  return error(Code.NotFound, message);
}

function error(code: Code, errorMessage: string): Answer {
  return { case: "errorResponse", value: create(ErrorResponseSchema, { errorCode: code, errorMessage }) };
}

/** All files of `services` plus their transitive dependencies, reusing the generated descriptors. */
function buildRegistry(files: DescFile[]): FileRegistry {
  const roots = new Set(files);
  const perRoot = [...roots].map((root) =>
    createFileRegistry(root.proto, (name) => root.dependencies.find((d) => d.proto.name === name)),
  );
  return createFileRegistry(...perRoot);
}

function transcode<From extends DescMessage, To extends DescMessage>(
  from: From,
  to: To,
  message: MessageShape<From>,
): MessageShape<To> {
  return fromBinary(to, toBinary(from, message));
}

async function* mapAsync<T, U>(source: AsyncIterable<T>, fn: (value: T) => U): AsyncIterable<U> {
  for await (const value of source) yield fn(value);
}
