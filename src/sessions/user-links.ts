import { requirePermission, type Principal } from "../auth/principal.js";
import { Failure, invalidArgument, type FieldViolation } from "../status/failure.js";
import { LinkTakenError, type LinkedIdentity, type LinkStore, type UserLinksRecord } from "../store/link-types.js";
import type { SessionStore } from "../store/store.js";
import { checkLength } from "./validate.js";

export interface UserLinksInput {
  userId: string;
  emails: readonly string[];
  identities: readonly LinkedIdentity[];
  /** The user's id in a configured provider, by provider name. */
  providerUserIds: Readonly<Record<string, string>>;
}

const MAX_EMAILS = 50;
const MAX_IDENTITIES = 50;
/** RFC 5321's limit on a path, and on a local part. */
const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_PART_LENGTH = 64;
const MAX_ISS_LENGTH = 1000;
const MAX_SUB_LENGTH = 255;

/** local@domain: no space, control character or second @; the domain's dot-separated labels not empty. */
const EMAIL = /^[^\s\p{Cc}@]+@[^\s\p{Cc}@.]+(\.[^\s\p{Cc}@.]+)*$/u;
/** Printable ASCII without spaces, as an issuer URL is sent in a JWT (and fits a database index). */
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Identity links: a user's emails, its (iss, sub) accounts at identity providers, and its ids in
 * the providers. Set and Delete need users.manage, Get session.read. The inbound standards (Global
 * Token Revocation, the SSF receiver) resolve their subjects here, authenticated otherwise.
 */
export class UserLinks {
  constructor(
    private readonly links: LinkStore,
    private readonly sessions: Pick<SessionStore, "listSessions">,
    private readonly providerNames: readonly string[],
  ) {}

  /** Replaces every link of the user; ALREADY_EXISTS when an email or identity is another user's. */
  async set(caller: Principal, input: UserLinksInput): Promise<UserLinksRecord> {
    requirePermission(caller, "users.manage");
    const violations = this.violations(input);
    if (violations.length > 0) throw invalidArgument(violations);
    const emails = uniqueBy(input.emails.map((e) => e.toLowerCase()), (e) => e);
    const identities = uniqueBy(input.identities, (i) => JSON.stringify([i.iss, i.sub])).map(({ iss, sub }) => ({ iss, sub }));
    try {
      return await this.links.setLinks({ userId: input.userId, emails, identities, providerUserIds: { ...input.providerUserIds } });
    } catch (err) {
      if (!(err instanceof LinkTakenError)) throw err;
      // Named by the caller's own field; the user it is linked to stays unknown to the caller.
      const t = err.taken;
      const field = "email" in t ? `emails[${input.emails.findIndex((e) => e.toLowerCase() === t.email)}]` : `identities[${input.identities.findIndex((i) => i.iss === t.identity.iss && i.sub === t.identity.sub)}]`;
      throw new Failure("ALREADY_EXISTS", "USER_LINK_TAKEN", `${field} is already linked to another user`, { metadata: { field } });
    }
  }

  async get(caller: Principal, userId: string): Promise<UserLinksRecord> {
    requirePermission(caller, "session.read");
    checkUserId(userId);
    const found = await this.links.getLinks(userId);
    if (!found) throw notFound();
    return found;
  }

  async delete(caller: Principal, userId: string): Promise<void> {
    requirePermission(caller, "users.manage");
    checkUserId(userId);
    if (!(await this.links.deleteLinks(userId))) throw notFound();
  }

  /**
   * The user an RFC 9493 subject identifier names, through the links; undefined when none. No
   * permission check: the inbound standards authenticate their callers themselves. Formats:
   * `opaque` (a user id), `email` (case-insensitive), `iss_sub`, and SSF's `complex`, by its `user`.
   */
  async resolveSubject(subject: unknown, issuers?: readonly string[]): Promise<string | undefined> {
    const s = subjectObject(subject);
    if (s.format === "complex") {
      if (s["user"] === undefined) throw subjectInvalid('a complex subject needs a "user" member');
      const user = subjectObject(s["user"]);
      if (user.format === "complex") throw subjectInvalid("a complex subject's user must be a simple subject identifier");
      return this.resolveSimple(user, issuers);
    }
    return this.resolveSimple(s, issuers);
  }

  /** The user's id in each provider, as linked; none when the user has no links. */
  async providerUserIds(userId: string): Promise<Record<string, string>> {
    return (await this.links.getLinks(userId))?.providerUserIds ?? {};
  }

  private async resolveSimple(s: Record<string, unknown> & { format: string }, issuers: readonly string[] | undefined): Promise<string | undefined> {
    switch (s.format) {
      case "opaque": {
        const id = member(s, "id");
        if ([...id].length > 200) return undefined;
        // A user of the embedded store is known by its sessions (any state) even without links.
        if (await this.links.getLinks(id)) return id;
        return (await this.sessions.listSessions({ userId: id, limit: 1 })).length > 0 ? id : undefined;
      }
      case "email": {
        const email = member(s, "email");
        return email.length > MAX_EMAIL_LENGTH ? undefined : this.links.userByEmail(email.toLowerCase());
      }
      case "iss_sub": {
        const iss = member(s, "iss");
        const sub = member(s, "sub");
        if (issuers !== undefined && !issuers.includes(iss)) {
          throw new Failure("PERMISSION_DENIED", "SUBJECT_ISSUER_NOT_ALLOWED", "this caller may not name subjects of that issuer (iss_sub): only its own, or those of its subject_issuers");
        }
        return iss.length > MAX_ISS_LENGTH || [...sub].length > MAX_SUB_LENGTH ? undefined : this.links.userByIdentity(iss, sub);
      }
      default:
        throw new Failure("INVALID_ARGUMENT", "SUBJECT_FORMAT_UNSUPPORTED", `subject format ${JSON.stringify(s.format.slice(0, 50))} is not supported; supported: opaque, email, iss_sub, complex`);
    }
  }

  private violations(input: UserLinksInput): FieldViolation[] {
    const violations: FieldViolation[] = [];
    checkLength(violations, "user_id", input.userId, { required: true });
    if (input.emails.length > MAX_EMAILS) violations.push({ field: "emails", description: `at most ${MAX_EMAILS}, got ${input.emails.length}` });
    else input.emails.forEach((email, i) => checkEmail(violations, `emails[${i}]`, email));
    if (input.identities.length > MAX_IDENTITIES) violations.push({ field: "identities", description: `at most ${MAX_IDENTITIES}, got ${input.identities.length}` });
    else
      input.identities.forEach((identity, i) => {
        checkIssuer(violations, `identities[${i}].iss`, identity.iss);
        checkLength(violations, `identities[${i}].sub`, identity.sub, { required: true, max: MAX_SUB_LENGTH });
      });
    // No provider puts a user id into a URL path (they send it in a body or a query), so a length is the only check of one.
    for (const [name, id] of Object.entries(input.providerUserIds)) {
      const field = `provider_user_ids[${JSON.stringify(name.slice(0, 50))}]`;
      if (!this.providerNames.includes(name)) violations.push({ field, description: `unknown provider; configured: ${this.providerNames.join(", ")}` });
      else checkLength(violations, field, id, { required: true });
    }
    return violations;
  }
}

function checkUserId(userId: string): void {
  const violations: FieldViolation[] = [];
  checkLength(violations, "user_id", userId, { required: true });
  if (violations.length > 0) throw invalidArgument(violations);
}

function checkEmail(violations: FieldViolation[], field: string, email: string): void {
  const local = email.slice(0, email.lastIndexOf("@"));
  if (email.length > MAX_EMAIL_LENGTH) violations.push({ field, description: `must be at most ${MAX_EMAIL_LENGTH} characters` });
  else if (!EMAIL.test(email) || local.length > MAX_LOCAL_PART_LENGTH) violations.push({ field, description: "must be an email address: local-part@domain" });
}

function checkIssuer(violations: FieldViolation[], field: string, iss: string): void {
  if (iss.length > MAX_ISS_LENGTH) violations.push({ field, description: `must be at most ${MAX_ISS_LENGTH} characters` });
  else if (!PRINTABLE_ASCII.test(iss) || !URL.canParse(iss) || !/^https?:$/.test(new URL(iss).protocol)) violations.push({ field, description: "must be an http or https URL" });
}

/** The first of each value with the same key, in order. */
function uniqueBy<T>(values: readonly T[], key: (value: T) => string): T[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = key(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function notFound(): Failure {
  return new Failure("NOT_FOUND", "USER_LINKS_NOT_FOUND", "the user has no links");
}

function subjectInvalid(message: string): Failure {
  return new Failure("INVALID_ARGUMENT", "SUBJECT_INVALID", message);
}

/** A subject identifier object with its format (RFC 9493 §3). */
function subjectObject(value: unknown): Record<string, unknown> & { format: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw subjectInvalid("a subject identifier must be a JSON object");
  const format = (value as Record<string, unknown>)["format"];
  if (typeof format !== "string" || format === "") throw subjectInvalid('a subject identifier needs a "format" string');
  return value as Record<string, unknown> & { format: string };
}

/** A format's required string member. */
function member(s: Record<string, unknown> & { format: string }, name: string): string {
  const value = s[name];
  if (typeof value !== "string" || value === "") throw subjectInvalid(`a subject of format ${s.format} needs a non-empty "${name}" string`);
  return value;
}
