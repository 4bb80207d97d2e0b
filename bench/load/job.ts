/** One batch of calls for the load generator. */
export interface Job {
  port: number;
  /** e.g. /sessioncontrol.v1.SessionControl/Terminate */
  path: string;
  /** Extra request headers, the same on every call (e.g. authorization). */
  headers: Record<string, string>;
  /** File of pre-encoded enveloped request messages (see frames.ts). */
  framesFile: string;
  /** Call i sends frame (offset + i) when distinct, frame (offset + i) mod n otherwise. */
  offset: number;
  distinct: boolean;
  /** A unit of work is `chain` calls one after another (e.g. walking pages); latency is per unit. */
  chain: number;
  concurrency: number;
  /** Units of work to complete. */
  units: number;
  /** Bodies of the first `keepBodies` responses are returned, for checking. */
  keepBodies: number;
}

export interface JobResult {
  units: number;
  calls: number;
  /** From the first call's start to the last unit's end, nanoseconds. */
  wallNs: number;
  /** CPU time (user + system) of the generator itself during the job, microseconds. */
  cpuUs: number;
  /** Per unit, nanoseconds. */
  latenciesNs: Float64Array;
  /** grpc-status value (or "transport:<code>") -> number of calls. */
  statuses: Record<string, number>;
  /** The first few failures, described. */
  failures: string[];
  /** Response bodies (enveloped), in call order. */
  bodies: Uint8Array[];
}

export type ToGenerator = { cmd: "run"; job: Job } | { cmd: "disconnect" } | { cmd: "exit" };
export type FromGenerator = { type: "ready" } | { type: "result"; result: JobResult } | { type: "disconnected" } | { type: "error"; message: string };
