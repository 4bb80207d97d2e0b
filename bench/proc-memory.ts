import { readFileSync, writeFileSync } from "node:fs";

/** Resets the kernel's peak RSS (VmHWM) of a process, so that a run's own peak can be read. */
export function resetPeakRss(pid: number | undefined): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** VmHWM and VmRSS of a process, in bytes (Linux). */
export function readMemory(pid: number | undefined): { peakRss: number; rss: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
    return { peakRss: kb("VmHWM"), rss: kb("VmRSS") };
  } catch {
    return undefined;
  }
}
