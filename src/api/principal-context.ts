import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Principal } from "../auth/principal.js";
import type { CallContext } from "../sessions/end-session.js";

/** Set by the handler (src/server/handler.ts) from the headers of every call that needs credentials. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "caller" });

export function callerOf(ctx: HandlerContext): Principal {
  const p = ctx.values.get(principalKey);
  if (!p) throw new ConnectError("missing credentials", Code.Unauthenticated);
  return p;
}

/** Cancellation, deadline and the second factor of a call, as the domain takes them. */
export function callContextOf(ctx: HandlerContext): CallContext {
  const timeoutMs = ctx.timeoutMs();
  const twoFactorCode = ctx.requestHeader.get("x-2fa-code");
  return {
    signal: ctx.signal,
    ...(timeoutMs !== undefined && { deadline: Date.now() + timeoutMs }),
    ...(twoFactorCode && { twoFactorCode }),
  };
}
