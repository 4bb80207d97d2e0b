/** Signs a SET's claims as a JWS in compact form, with the header {alg, kid, typ: "secevent+jwt"} (RFC 8417 §2.3). */
export interface SetSigner {
  sign(claims: Record<string, unknown>): Promise<string>;
}
