import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { ListSessionsResponseSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { writeFrameFile } from "../load/frames.js";
import { UnaryClient } from "../load/once.js";
import { listFrame, PATHS } from "../load/requests.js";
import { measure, type RunResult } from "../measure.js";
import type { ServerProcess } from "../servers/spawn.js";
import { progress, type ScenarioContext } from "./context.js";
import type { ServiceEnv } from "./service-env.js";

export const PAGE_SIZE = 100;

export interface ListResult {
  userSessions: number;
  what: "first page" | "all pages";
  pages: number;
  result: RunResult;
}

export function listUserId(sessions: number): string {
  return `list-user-${sessions}`;
}

/** ListSessions of one user, page_size 100: the first page, and for users with more, walking every page. */
export async function runList(ctx: ScenarioContext, server: ServerProcess, env: ServiceEnv): Promise<ListResult[]> {
  const results: ListResult[] = [];
  for (const n of ctx.opts.listUsers) {
    const userId = listUserId(n);
    const firstFile = join(ctx.tmp, `list-${n}-first.frames`);
    writeFileSync(firstFile, listFrame(userId, PAGE_SIZE));
    const first = await measure(ctx.gen, server, {
      call: `ListSessions first page (user with ${n})`,
      path: PATHS.listSessions,
      headers: env.headers,
      framesFile: firstFile,
      distinct: false,
      concurrency: 1,
      warmup: Math.max(10, Math.round(ctx.opts.listCalls / 10)),
      units: ctx.opts.listCalls,
      check: pageProblems(userId, Math.min(n, PAGE_SIZE), n > PAGE_SIZE),
    });
    progress(first);
    results.push({ userSessions: n, what: "first page", pages: 1, result: first });
    if (n <= PAGE_SIZE) continue;
    const pages = await pageRequests(server.port, env, userId, n);
    const walkFile = join(ctx.tmp, `list-${n}-walk.frames`);
    await writeFrameFile(walkFile, pages);
    const walk = await measure(ctx.gen, server, {
      call: `ListSessions all ${pages.length} pages (user with ${n})`,
      path: PATHS.listSessions,
      headers: env.headers,
      framesFile: walkFile,
      distinct: false,
      chain: pages.length,
      concurrency: 1,
      warmup: 1,
      units: ctx.opts.listWalks,
      check: pageProblems(userId, undefined, undefined),
    });
    progress(walk);
    results.push({ userSessions: n, what: "all pages", pages: pages.length, result: walk });
  }
  for (const r of results) ctx.problems.push(...r.result.problems.map((p) => `service ${r.result.call}: ${p}`));
  return results;
}

/** Walks the user's sessions once, checking them, and returns the request of each page. */
async function pageRequests(port: number, env: ServiceEnv, userId: string, expected: number): Promise<Buffer[]> {
  const client = await UnaryClient.connect(port);
  const frames: Buffer[] = [];
  const seen = new Set<string>();
  try {
    let token = "";
    do {
      const frame = listFrame(userId, PAGE_SIZE, token);
      const answer = await client.call(PATHS.listSessions, frame, env.headers);
      if (answer.status !== "0") throw new Error(`ListSessions page ${frames.length + 1}: grpc-status ${answer.status} ${answer.message}`);
      const page = fromBinary(ListSessionsResponseSchema, answer.body);
      for (const s of page.sessions) seen.add(s.id);
      frames.push(frame);
      token = page.nextPageToken;
    } while (token !== "" && frames.length <= expected);
  } finally {
    await client.close();
  }
  if (seen.size !== expected) throw new Error(`walking the pages of ${userId} found ${seen.size} sessions, expected ${expected}`);
  return frames;
}

function pageProblems(userId: string, size: number | undefined, more: boolean | undefined): (messages: Uint8Array[]) => string[] {
  return (messages) => {
    for (const m of messages) {
      const page = fromBinary(ListSessionsResponseSchema, m);
      if (size !== undefined && page.sessions.length !== size) return [`a page holds ${page.sessions.length} sessions, expected ${size}`];
      if (page.sessions.length === 0 || page.sessions.length > PAGE_SIZE) return [`a page holds ${page.sessions.length} sessions`];
      if (page.sessions.some((s) => s.userId !== userId)) return [`a page holds sessions of another user than ${userId}`];
      if (more !== undefined && (page.nextPageToken !== "") !== more) return [`next_page_token is ${more ? "missing" : "set"}`];
    }
    return [];
  };
}
