/**
 * Identity links: how one user of this service is known elsewhere. Each email and each
 * (iss, sub) pair belongs to at most one user; the database's unique keys make it so, also
 * for replicas setting links at once.
 */

/** An account at an identity provider: a JWT's `iss` and `sub`. */
export interface LinkedIdentity {
  iss: string;
  sub: string;
}

/** What a Set stores: every link of one user (emails already lower-cased, no duplicates). */
export interface NewUserLinks {
  userId: string;
  emails: readonly string[];
  identities: readonly LinkedIdentity[];
  /** The user's id in a provider, by provider name. */
  providerUserIds: Readonly<Record<string, string>>;
}

export interface UserLinksRecord {
  userId: string;
  /** In the order they were set. */
  emails: string[];
  /** In the order they were set. */
  identities: LinkedIdentity[];
  providerUserIds: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

/** Thrown by setLinks, which then stored nothing: an email or identity of the input is another user's. */
export class LinkTakenError extends Error {
  constructor(readonly taken: { email: string } | { identity: LinkedIdentity }) {
    super("email" in taken ? "an email is linked to another user" : "an identity is linked to another user");
    this.name = "LinkTakenError";
  }
}

export interface LinkStore {
  /** Replaces every link of the user (creating its record when new); throws LinkTakenError when one is another user's. */
  setLinks(links: NewUserLinks): Promise<UserLinksRecord>;
  getLinks(userId: string): Promise<UserLinksRecord | undefined>;
  /** False when the user had no links. */
  deleteLinks(userId: string): Promise<boolean>;
  /** The user an email (lower-cased) is linked to. */
  userByEmail(email: string): Promise<string | undefined>;
  /** The user an identity is linked to. */
  userByIdentity(iss: string, sub: string): Promise<string | undefined>;
}
