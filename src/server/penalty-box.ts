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

  add(address: string | undefined): void {
    if (!address) return;
    this.until.delete(address);
    if (this.until.size >= this.maxEntries) this.until.delete(this.until.keys().next().value!);
    this.until.set(address, Date.now() + this.ms);
  }

  holds(address: string | undefined): boolean {
    const until = address === undefined ? undefined : this.until.get(address);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.until.delete(address!);
    return false;
  }
}
