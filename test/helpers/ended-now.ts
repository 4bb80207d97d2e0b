import { expect } from "vitest";
import type { TerminateResponse } from "../../gen/sessioncontrol/v1/session_control_pb.js";

/**
 * Checks the answer of `provider` to a session it newly ended, when the upstream tells no details
 * of the change: no sequence, no owner, and a change date between `before` (ms) and now.
 */
export function expectEndedNow(res: TerminateResponse, provider: string, before: number): void {
  expect(res.provider).toBe(provider);
  expect(res.alreadyTerminated).toBe(false);
  expect(res.details?.sequence).toBe(0n);
  expect(res.details?.resourceOwner).toBe("");
  const changed = Number(res.details!.changeDate!.seconds) * 1000;
  expect(changed).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
  expect(changed).toBeLessThanOrEqual(Date.now());
}
