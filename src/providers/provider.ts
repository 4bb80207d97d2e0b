import type { Principal } from "../auth/principal.js";

/** What a provider needs to end one session. */
export interface TerminateCall {
  caller: Principal;
  sessionId: string;
  /** Absent when the caller sent none (or an empty one). */
  sessionToken?: string;
  userId: string;
  reason: string;
  requestId: string;
  signal: AbortSignal;
}

/** Details of a change, as in zitadel.object.v2.Details. */
export interface ChangeDetails {
  sequence: bigint;
  changeDate: Date;
  resourceOwner: string;
  creationDate?: Date;
}

export interface TerminateResult {
  details: ChangeDetails;
  alreadyTerminated: boolean;
}

/** An upstream's answer that is not success; the status layer turns it into a gRPC status. */
export interface UpstreamAnswer {
  /** HTTP or gRPC status of the upstream answer, when it has one. */
  status?: number;
  /** The upstream's own error code or id; the key into the provider's mapping table. */
  code: string;
  message: string;
}

export class ProviderFailure extends Error {
  constructor(
    readonly provider: string,
    readonly providerType: string,
    readonly answer: UpstreamAnswer,
  ) {
    super(answer.message);
    this.name = "ProviderFailure";
  }
}

/** A backend that ends sessions: the embedded store or an upstream system. */
export interface Provider {
  readonly name: string;
  readonly type: string;
  terminate(call: TerminateCall): Promise<TerminateResult>;
}
