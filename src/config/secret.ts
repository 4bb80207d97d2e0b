import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { z } from "zod";

/** A secret read from a reference. It prints as [secret] everywhere, so it cannot leak by accident. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return "[secret]";
  }

  toJSON(): string {
    return "[secret]";
  }

  [inspect.custom](): string {
    return "[secret]";
  }
}

/** A configuration value given as `env:NAME` or `file:PATH`, never as the secret itself. */
export const secretRef = z.string().transform((ref, ctx): Secret => {
  const m = /^(env|file):(.+)$/.exec(ref);
  if (!m) {
    ctx.addIssue({ code: "custom", message: "must be a reference (env:NAME or file:PATH), not the secret itself" });
    return z.NEVER;
  }
  const [, kind, target] = m as unknown as [string, "env" | "file", string];
  if (kind === "env") {
    const value = process.env[target];
    if (!value) ctx.addIssue({ code: "custom", message: `environment variable ${target} is not set or empty` });
    return new Secret(value ?? "");
  }
  try {
    const value = readFileSync(target, "utf8").trim();
    if (!value) ctx.addIssue({ code: "custom", message: `file ${target} is empty` });
    return new Secret(value);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `cannot read file ${target} (${(err as NodeJS.ErrnoException).code ?? "error"})` });
    return z.NEVER;
  }
});
