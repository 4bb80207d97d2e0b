import { addressKey } from "../auth/guess-limits.js";

/**
 * Client addresses whose new connections are refused for a while, after a connection of theirs
 * was closed for a frame flood: a flooder that reconnects in a loop costs an accept, not a
 * connection's worth of streams each time.
 */
export class PenaltyBox {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ms: number,
    /** Addresses held at most; the oldest leave first. */
    private readonly maxEntries = 100_000,
  ) {}

  /** Addresses are counted as the guessing limits count them (IPv6 by its /64), so a flooder cannot hop within its network. */
  add(address: string | undefined): void {
    if (!address) return;
    const key = addressKey(address);
    this.until.delete(key);
    if (this.until.size >= this.maxEntries) this.until.delete(this.until.keys().next().value!);
    this.until.set(key, Date.now() + this.ms);
  }

  holds(address: string | undefined): boolean {
    if (!address) return false;
    const key = addressKey(address);
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.until.delete(key);
    return false;
  }
}
