import type { IncomingHttpHeaders } from "node:http";
import { Code, type ConnectError } from "@connectrpc/connect";
import type { ApiKeys } from "../auth/api-keys.js";
import type { Principal } from "../auth/principal.js";
import { serviceError } from "../status/errors.js";

/** A caller known from its request headers, or the error that refuses it. */
export type AuthOutcome = { principal: Principal } | { refusal: ConnectError };

/**
 * How every authenticated call (RPC and REST) is known, from its headers and the client's
 * address, before its body is read. The one place where a limit on guessing can refuse
 * (RESOURCE_EXHAUSTED) before a key is looked up.
 */
export type Authenticate = (headers: IncomingHttpHeaders, remoteAddress: string | undefined) => AuthOutcome;

export function apiKeyAuthenticator(keys: ApiKeys): Authenticate {
  return (headers) => {
    const principal = keys.authenticate(headers["authorization"]);
    return principal ? { principal } : { refusal: unauthenticated() };
  };
}

export function unauthenticated(): ConnectError {
  return serviceError(Code.Unauthenticated, "API_KEY_INVALID", "missing or unknown API key: send Authorization: Bearer <api key>");
}
