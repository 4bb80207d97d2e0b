import { Code, ConnectError } from "@connectrpc/connect";
import { toConnectError } from "../api/connect-error.js";
import { Failure } from "../status/failure.js";

/**
 * The error a caller gets, over RPC and REST alike: a domain failure as its gRPC status, a
 * ConnectError as it is, anything else INTERNAL without its text (the caller sees no stack or message of ours).
 */
export function asConnectError(err: unknown): ConnectError {
  if (err instanceof Failure) return toConnectError(err);
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error", Code.Internal);
}
