import type { Interceptor } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { principalKey } from "../api/principal-context.js";
import type { ApiKeys } from "../auth/api-keys.js";
import { serviceError } from "../status/errors.js";
import { callRecordKey } from "./call-log.js";

/** Every call needs `Authorization: Bearer <api key>`, but those to the public services (health, reflection). */
export function authInterceptor(keys: ApiKeys, publicServices: ReadonlySet<string>): Interceptor {
  return (next) => async (req) => {
    if (!publicServices.has(req.service.typeName)) {
      const principal = keys.authenticate(req.header.get("authorization"));
      if (!principal) throw serviceError(Code.Unauthenticated, "API_KEY_INVALID", "missing or unknown API key: send Authorization: Bearer <api key>");
      req.contextValues.set(principalKey, principal);
      // Known to the call's log line even when the caller leaves before the answer.
      const record = req.contextValues.get(callRecordKey);
      if (record) record.principal = principal.name;
    }
    return next(req);
  };
}
