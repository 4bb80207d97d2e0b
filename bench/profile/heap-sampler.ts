import { renameSync, writeFileSync } from "node:fs";
import inspector from "node:inspector";
import { constants, PerformanceObserver } from "node:perf_hooks";

/**
 * Preloaded into a server child (node --import=.../heap-sampler.js) by profile.ts --heap: V8's
 * sampling heap profiler, counting objects that garbage collection already freed, so that the
 * profile shows what each function allocates (not what stays alive). The first SIGUSR2 starts
 * it, the second writes $HEAP_SAMPLE_FILE (a .heapprofile) with the GC pauses in between.
 */
const file = process.env.HEAP_SAMPLE_FILE;
if (file) {
  const session = new inspector.Session();
  session.connect();
  const gc = { minor: { count: 0, ms: 0 }, major: { count: 0, ms: 0 }, incremental: { count: 0, ms: 0 }, weakcb: { count: 0, ms: 0 } };
  const kinds: Record<number, keyof typeof gc> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  let started = false;
  let startedAt = 0;
  const observer = new PerformanceObserver((list) => {
    if (!started) return;
    for (const e of list.getEntries()) {
      const kind = kinds[(e as unknown as { detail?: { kind: number } }).detail?.kind ?? -1];
      if (kind) {
        gc[kind].count++;
        gc[kind].ms += e.duration;
      }
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  process.on("SIGUSR2", () => {
    if (!started) {
      started = true;
      startedAt = performance.now();
      session.post("HeapProfiler.enable");
      session.post("HeapProfiler.startSampling", { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
      return;
    }
    session.post("HeapProfiler.stopSampling", (err, result) => {
      if (err) throw err;
      writeFileSync(`${file}.part`, JSON.stringify({ ...result.profile, gc, windowMs: performance.now() - startedAt }));
      renameSync(`${file}.part`, file);
    });
  });
}
