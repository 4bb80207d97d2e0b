import type { Attack } from "../attack.js";
import { idleConnections, slowloris } from "./connections.js";
import { continuationFlood, hugeHeaders, pingFlood, rapidReset, settingsFlood } from "./floods.js";
import { wrongKeys, wrongTokens } from "./guessing.js";
import { overLimit } from "./over-limit.js";
import { fuzz } from "./fuzz.js";
import { inboundForgeries } from "./inbound.js";
import { requestIds } from "./request-ids.js";
import { bigUnfinished, unfinishedH1, unfinishedH2 } from "./unfinished.js";

/** Every attack, in the order they run. */
export const ATTACKS: Attack[] = [
  // Smoke covers each of gRPC/Connect, h2/HTTP/1.1 and with/without a key once.
  unfinishedH2({ protocol: "grpc", auth: false }),
  unfinishedH2({ protocol: "grpc", auth: true }, true),
  unfinishedH2({ protocol: "connect", auth: false }, true),
  unfinishedH2({ protocol: "connect", auth: true }),
  unfinishedH1(false),
  unfinishedH1(true, true),
  bigUnfinished,
  idleConnections,
  rapidReset,
  settingsFlood,
  pingFlood,
  continuationFlood,
  hugeHeaders,
  slowloris,
  overLimit,
  wrongKeys,
  wrongTokens,
  inboundForgeries,
  requestIds,
  fuzz,
];
