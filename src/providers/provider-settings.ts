import { z } from "zod";

/** Where an upstream serves its API: an http or https URL. */
export const baseUrl = z.url({ protocol: /^https?$/ });

/** The id the upstream knows our account by: a partner id, user id or OAuth client id. */
export const accountId = z.string().min(1).max(200);
