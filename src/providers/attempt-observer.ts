/** Observes every upstream attempt (the metrics do): which provider, which call, how long, and its outcome. */
export type AttemptObserver = (provider: string, operation: string, seconds: number, outcome: string) => void;
