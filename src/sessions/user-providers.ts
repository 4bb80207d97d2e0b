import type { FieldViolation } from "../status/failure.js";
import type { UserLinks } from "./user-links.js";
import { checkLength } from "./validate.js";

/** A user and the providers to reach them in, as TerminateUser and ListUserSessions take them. */
export interface UserProvidersInput {
  userId: string;
  /** Only these providers; empty: every configured one. */
  providers: readonly string[];
  /** The user's id in a provider, where it differs from userId. */
  providerUserIds: Readonly<Record<string, string>>;
}

/** One provider to reach the user in, with the user's id there. */
export interface ProviderUser {
  provider: string;
  providerUserId: string;
}

/** Appends a violation for an unknown provider name, and for an empty or long provider_user_ids value. */
export function checkProviderChoice(violations: FieldViolation[], input: UserProvidersInput, providerNames: readonly string[]): void {
  const unknown = [...input.providers, ...Object.keys(input.providerUserIds)].filter((p) => !providerNames.includes(p));
  for (const name of new Set(unknown)) violations.push({ field: "providers", description: `unknown provider "${name}"; configured: ${providerNames.join(", ")}` });
  for (const [p, id] of Object.entries(input.providerUserIds)) checkLength(violations, `provider_user_ids[${JSON.stringify(p)}]`, id, { required: true });
}

/**
 * The providers asked for (each once; none named: every configured one, in configuration order),
 * each with the user's id there: the one the request gives, else the linked one, else the user's own.
 */
export async function providerUsers(input: UserProvidersInput, providerNames: readonly string[], links: Pick<UserLinks, "providerUserIds">): Promise<ProviderUser[]> {
  const providers = input.providers.length > 0 ? [...new Set(input.providers)] : providerNames;
  const linked = await links.providerUserIds(input.userId);
  return providers.map((provider) => ({ provider, providerUserId: input.providerUserIds[provider] || linked[provider] || input.userId }));
}

/** Time kept back from the caller's deadline to write the answer: a quarter of it, from 100 ms to 1 s, so a loaded host still answers in time. */
export function answerMarginMs(timeoutMs: number): number {
  return Math.min(Math.max(timeoutMs / 4, 100), 1_000);
}
