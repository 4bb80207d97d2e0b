import { codeOfStatus, type Response } from "./inbound-request.js";
import { sendJson } from "./json-body.js";

/** The names an error body gives its two fields: OAuth's `error`/`error_description` (RFC 6749 §5.2), RFC 8935's `err`/`description`. */
export interface ErrorFields {
  code: string;
  description: string;
}

/** Answers an error as JSON under `fields`' names, uncached; the call line's code for the status. */
export type ErrorAnswer = (res: Response, status: number, code: string, description: string, headers?: Record<string, string>) => string;

/** The error answer of an inbound endpoint whose error body names its fields `fields`. */
export function errorAnswer(fields: ErrorFields): ErrorAnswer {
  return (res, status, code, description, headers = {}) => {
    sendJson(res, status, { [fields.code]: code, [fields.description]: description }, { "cache-control": "no-store", ...headers });
    return codeOfStatus(status);
  };
}
