import { z } from "zod";
import { PRINCIPAL_SEPARATOR, type JwtCallerSettings } from "../auth/jwt-callers.js";
import { PERMISSIONS } from "../auth/principal.js";
import { distinctIssuers, oneKeySource, tokenIssuerFields, trustedIssuer } from "./token-issuer.js";

/** A claim's name, as it appears in a token's payload (Zitadel's roles claim is `urn:zitadel:iam:org:project:roles`). */
const claimName = z.string().min(1).max(200);

/**
 * An issuer of access tokens accepted as `Authorization: Bearer <JWT>` (RFC 7519, RFC 8725),
 * and how its claims make a principal.
 */
const jwtIssuer = z
  .strictObject({
    ...tokenIssuerFields,
    /** The `aud` the tokens must carry (one, or any of a list); default public_url, else this server's URL. */
    audience: z.union([z.string().min(1).max(1000).transform((a) => [a]), z.array(z.string().min(1).max(1000)).min(1)]).optional(),
    principal_claim: claimName.default("sub"),
    user_id_claim: claimName.default("sub"),
    /** An array of strings, a space-separated string (`scope`), or an object whose keys are the values (Zitadel's roles). */
    permissions_claim: claimName.default("permissions"),
    /** Claim values to our permissions: when present, only mapped values grant anything. */
    permission_map: z.record(z.string().min(1).max(200), z.array(z.enum(PERMISSIONS))).optional(),
  })
  .superRefine(oneKeySource)
  .superRefine((entry, ctx) => {
    if (entry.issuer.includes(PRINCIPAL_SEPARATOR)) {
      ctx.addIssue({ code: "custom", path: ["issuer"], message: `must not contain "${PRINCIPAL_SEPARATOR}" (an issuer is a URL without a fragment; JWT callers are named <issuer>${PRINCIPAL_SEPARATOR}<principal claim>)` });
    }
  });

/** `auth:` — callers known by other means than API keys. */
export const auth = z.strictObject({
  jwt_issuers: z.array(jwtIssuer).default([]).refine(distinctIssuers, "two entries have the same issuer"),
});

export type JwtIssuerConfig = z.infer<typeof jwtIssuer>;

/** A configured issuer as JwtCallers takes it. */
export function jwtCaller(entry: JwtIssuerConfig): JwtCallerSettings {
  return {
    ...trustedIssuer(entry),
    ...(entry.audience && { audience: entry.audience }),
    principalClaim: entry.principal_claim,
    userIdClaim: entry.user_id_claim,
    permissionsClaim: entry.permissions_claim,
    ...(entry.permission_map && { permissionMap: entry.permission_map }),
  };
}
