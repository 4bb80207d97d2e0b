import type { Interceptor } from "@connectrpc/connect";
import { principalKey } from "../api/principal-context.js";
import { unauthenticated } from "./authenticate.js";

/**
 * Every call needs a caller, but those to the public services (health, reflection). The handler
 * authenticates each call from its headers before the router sees it (handler.ts); this holds
 * that line for any call that reaches a handler without one.
 */
export function authInterceptor(publicServices: ReadonlySet<string>): Interceptor {
  return (next) => async (req) => {
    if (!publicServices.has(req.service.typeName) && !req.contextValues.get(principalKey)) throw unauthenticated();
    return next(req);
  };
}
