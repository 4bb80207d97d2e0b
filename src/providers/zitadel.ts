import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ErrorDetailSchema } from "@zitadel/proto/zitadel/message_pb.js";
import type { Details } from "@zitadel/proto/zitadel/object/v2/object_pb.js";
import { SessionFieldName, type Session } from "@zitadel/proto/zitadel/session/v2/session_pb.js";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { z } from "zod";
import { secretRef, type Secret } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { codeName } from "../status/code-names.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { zitadelTable } from "../status/zitadel.js";
import type { ChangeDetails } from "../store/store.js";
import {
  allowOptions,
  type ListUserSessionsCall,
  type Provider,
  type SessionListing,
  type TerminateCall,
  type TerminateResult,
  type UpstreamSession,
} from "./provider.js";
import { baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";

/** Sessions asked for per ListSessions page. */
const PAGE_SIZE = 100;
/** Sessions listed for one user at most; any beyond are not read. */
const MAX_LISTED = 100_000;

/** Node error codes of a connection that could not be opened. */
const REFUSED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"]);

const settings = z.strictObject({
  /** Where Zitadel serves its APIs, e.g. https://my-instance.zitadel.cloud (the instance's own domain). */
  base_url: baseUrl,
  /** A service user's personal access token. */
  token: secretRef,
  /** gRPC, or the Connect protocol (binary), both over HTTP/2. */
  protocol: z.enum(["grpc", "connect"]).default("grpc"),
});

export type ZitadelSettings = z.output<typeof settings>;

/** Provider type `zitadel`: zitadel.session.v2.SessionService over one HTTP/2 connection. */
export class ZitadelProvider implements Provider {
  readonly type = "zitadel";
  readonly table = zitadelTable;
  // Zitadel checks a presented session token itself (COMMAND-sGr42 when it is wrong).
  readonly verifiesTokens = true;
  readonly checkOptions = allowOptions({});
  private readonly connection: Http2SessionManager;
  private readonly client: Client<typeof SessionService>;

  constructor(
    readonly name: string,
    s: ZitadelSettings,
  ) {
    this.connection = new Http2SessionManager(s.base_url);
    const options = { baseUrl: s.base_url, sessionManager: this.connection, interceptors: [bearer(s.token)] };
    const transport = s.protocol === "connect" ? createConnectTransport({ ...options, httpVersion: "2", useBinaryFormat: true }) : createGrpcTransport(options);
    this.client = createClient(SessionService, transport);
  }

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    const request = { sessionId: call.sessionId, ...(call.sessionToken !== undefined && { sessionToken: call.sessionToken }) };
    const res = await this.upstream(call.signal, () => this.client.deleteSession(request, { signal: call.signal }));
    if (!res.details) throw this.failure({ code: "transport.malformed", message: "DeleteSession answered without details" });
    // Zitadel answers an already ended session with OK and no new event: it cannot be told apart here.
    return { details: changeDetails(res.details), alreadyTerminated: false };
  }

  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    const listed: UpstreamSession[] = [];
    const max = Math.min(MAX_LISTED, call.limit ?? MAX_LISTED);
    for (let offset = 0; offset < max; ) {
      const limit = Math.min(PAGE_SIZE, max - offset);
      const page = await this.upstream(call.signal, () =>
        this.client.listSessions(
          {
            query: { offset: BigInt(offset), limit, asc: true },
            queries: [{ query: { case: "userIdQuery", value: { id: call.userId } } }],
            sortingColumn: SessionFieldName.CREATION_DATE,
          },
          { signal: call.signal },
        ),
      );
      const now = Date.now();
      listed.push(...page.sessions.map((s) => upstreamSession(s, call.userId, now)));
      offset += page.sessions.length;
      const total = page.details?.totalResult;
      // Zitadel may cap the page size: a short page ends the list only when it tells no total.
      if (page.sessions.length === 0 || (total !== undefined ? BigInt(offset) >= total : page.sessions.length < limit)) return { sessions: listed, complete: true };
    }
    // Stopped at MAX_LISTED or the call's limit.
    return { sessions: listed, complete: false };
  }

  async close(): Promise<void> {
    this.connection.abort();
  }

  /** One upstream call; its failure becomes a ProviderFailure whose answer the mapping table reads. */
  private async upstream<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // ResilientProvider aborts with a ProviderFailure saying why (timeout, deadline, cancel).
      if (signal.aborted) throw signal.reason;
      throw this.failure(answerOf(ConnectError.from(err)));
    }
  }

  private failure(answer: UpstreamAnswer): ProviderFailure {
    return new ProviderFailure(this.name, answer, this.table);
  }
}

/** Adds the service user's token to every request. */
function bearer(token: Secret): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token.reveal()}`);
    return next(req);
  };
}

/**
 * Zitadel's answer: its gRPC code, the ErrorDetail id, and its message. A failure of the
 * connection (no answer from Zitadel at all) becomes `transport.refused` or `transport.reset`.
 */
function answerOf(err: ConnectError): UpstreamAnswer {
  const detail = err.findDetails(ErrorDetailSchema)[0];
  if (detail) return { grpcCode: err.code, code: detail.id, message: err.rawMessage };
  const nodeCodes = nodeErrorCodes(err.cause);
  if (nodeCodes.some((c) => REFUSED.has(c))) return { code: "transport.refused", message: `${nodeCodes.join(", ")}: ${err.rawMessage}` };
  if (nodeCodes.length > 0) return { code: "transport.reset", message: `${nodeCodes.join(", ")}: ${err.rawMessage}` };
  // connect-node's words for an HTTP/2 stream reset, e.g. when the connection drops mid-answer.
  if (/^http\/2 stream closed with error code/.test(err.rawMessage)) return { code: "transport.reset", message: err.rawMessage };
  return { grpcCode: err.code, code: codeName(err.code), message: err.rawMessage };
}

/** The `code` of every Node.js error along a chain of causes. */
function nodeErrorCodes(reason: unknown): string[] {
  const codes: string[] = [];
  for (let r = reason, depth = 0; r instanceof Error && depth < 10; r = r.cause, depth++) {
    const code = (r as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

function changeDetails(d: Details): ChangeDetails {
  return {
    sequence: d.sequence,
    resourceOwner: d.resourceOwner,
    ...(d.changeDate && { changeDate: timestampDate(d.changeDate) }),
    ...(d.creationDate && { creationDate: timestampDate(d.creationDate) }),
  };
}

/** Zitadel lists ended sessions no more; a listed session is over only when it has expired. */
function upstreamSession(s: Session, userId: string, now: number): UpstreamSession {
  return { sessionId: s.id, userId: s.factors?.user?.id || userId, active: !isPast(s.expirationDate, now) };
}

function isPast(t: Timestamp | undefined, now: number): boolean {
  return t !== undefined && timestampDate(t).getTime() <= now;
}

/** Provider type `zitadel`. */
export const zitadelType = defineProviderType({
  type: "zitadel",
  table: zitadelTable,
  settings,
  create: (name, s) => new ZitadelProvider(name, s),
});
