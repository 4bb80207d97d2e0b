import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Principal } from "../auth/principal.js";

/** Set by the authentication interceptor for every call that needs credentials. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "caller" });

export function callerOf(ctx: HandlerContext): Principal {
  const p = ctx.values.get(principalKey);
  if (!p) throw new ConnectError("missing credentials", Code.Unauthenticated);
  return p;
}
