import type { Interceptor } from "@connectrpc/connect";
import { principalKey } from "../api/principal-context.js";
import type { ApiKeys } from "../auth/api-keys.js";
import type { GuessLimits } from "../auth/guess-limits.js";
import { callRecordKey } from "./call-log.js";
import { clientAddressKey } from "./client-address.js";
import { refuseUnknownCaller } from "./unknown-caller.js";

/** Every call needs `Authorization: Bearer <api key>`, but those to the public services (health, reflection). */
export function authInterceptor(keys: ApiKeys, publicServices: ReadonlySet<string>, limits: GuessLimits): Interceptor {
  return (next) => async (req) => {
    if (!publicServices.has(req.service.typeName)) {
      const principal = keys.authenticate(req.header.get("authorization"));
      if (!principal) throw await refuseUnknownCaller(limits, req.contextValues.get(clientAddressKey));
      req.contextValues.set(principalKey, principal);
      // Known to the call's log line even when the caller leaves before the answer.
      const record = req.contextValues.get(callRecordKey);
      if (record) record.principal = principal.name;
    }
    return next(req);
  };
}
