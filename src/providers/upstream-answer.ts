import type { UpstreamAnswer } from "../status/answer.js";
import type { UpstreamResponse } from "./upstream-http.js";

/** Whether the upstream answered with a 2xx status. */
export function isSuccessStatus(res: UpstreamResponse): boolean {
  return res.status >= 200 && res.status < 300;
}

/** A 2xx answer whose body is not `documented`, the shape the upstream promises. */
export function malformedAnswer(res: UpstreamResponse, documented: string): UpstreamAnswer {
  return { httpStatus: res.status, code: "transport.malformed", message: `HTTP ${res.status} with a body that is not ${documented}` };
}

/** An answer in none of the upstream's documented shapes: malformed on a 2xx, otherwise only its status counts. */
export function undocumentedAnswer(res: UpstreamResponse, documented: string): UpstreamAnswer {
  return isSuccessStatus(res) ? malformedAnswer(res, documented) : { httpStatus: res.status, message: `HTTP ${res.status}` };
}
