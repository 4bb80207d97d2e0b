import { permissionDenied } from "../status/failure.js";

export const PERMISSIONS = ["session.create", "session.read", "session.delete", "ssf.manage", "users.manage"] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The authenticated caller of one request. */
export interface Principal {
  name: string;
  /** The caller's own user, for the own-session rule. */
  userId?: string;
  permissions: ReadonlySet<Permission>;
  /** The key's TOTP secret, when sign-out-everywhere needs a second factor from it. */
  totpKey?: Buffer;
}

export function hasPermission(p: Principal, permission: Permission): boolean {
  return p.permissions.has(permission);
}

/** PERMISSION_DENIED unless the caller holds the permission. */
export function requirePermission(caller: Principal, permission: Permission): void {
  if (!hasPermission(caller, permission)) throw permissionDenied(`this call needs the ${permission} permission`);
}
