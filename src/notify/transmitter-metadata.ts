import { PUSH_DELIVERY } from "./stream-config.js";

/** Where the public documents and the stream management endpoints are served, under the issuer. */
export const SSF_PATHS = {
  jwks: "/jwks.json",
  metadata: "/.well-known/ssf-configuration",
  configuration: "/ssf/stream",
  status: "/ssf/status",
  verification: "/ssf/verify",
} as const;

/** The Transmitter Configuration Metadata (SSF 1.0 §7.1) of the issuer (public_url, no trailing slash). */
export function transmitterMetadata(issuer: string): Record<string, unknown> {
  return {
    spec_version: "1_0",
    issuer,
    jwks_uri: issuer + SSF_PATHS.jwks,
    delivery_methods_supported: [PUSH_DELIVERY],
    configuration_endpoint: issuer + SSF_PATHS.configuration,
    status_endpoint: issuer + SSF_PATHS.status,
    verification_endpoint: issuer + SSF_PATHS.verification,
    // Management calls carry a bearer API key holding ssf.manage.
    authorization_schemes: [{ spec_urn: "urn:ietf:rfc:6749" }],
    // Every subject's events reach every stream: there are no add/remove subject endpoints.
    default_subjects: "ALL",
  };
}
