import { timingSafeEqual } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { totp } from "../providers/totp.js";
import { serviceError } from "../status/errors.js";
import type { TotpStepStore } from "../store/store.js";
import type { Principal } from "./principal.js";

const STEP_MS = 30_000;

/**
 * Step-up 2FA for keys configured with a TOTP secret: the call must carry `x-2fa-code`, valid
 * within one 30 s step either side, and each code is good once (on every replica, via the store).
 */
export class StepUp {
  constructor(
    private readonly totpSteps: TotpStepStore,
    private readonly now: () => number = Date.now,
  ) {}

  async verify(caller: Principal, code: string | null | undefined): Promise<void> {
    if (!caller.totpKey) return;
    if (!code) throw serviceError(Code.Unauthenticated, "TOTP_REQUIRED", "this key needs a second factor: send the current TOTP code in x-2fa-code");
    const current = Math.floor(this.now() / STEP_MS);
    const step = [current, current - 1, current + 1].find((s) => sameCode(code, totp(caller.totpKey!, s * STEP_MS)));
    if (step === undefined) throw serviceError(Code.Unauthenticated, "TOTP_INVALID", "the TOTP code in x-2fa-code is not valid now");
    if (!(await this.totpSteps.useTotpStep(caller.name, step))) {
      throw serviceError(Code.Unauthenticated, "TOTP_REUSED", "this TOTP code was used already: wait for the next one");
    }
  }
}

function sameCode(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
