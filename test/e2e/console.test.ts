import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { base32Decode, totp } from "../../src/auth/totp.js";
import { EndLedger } from "../fakes/end-ledger.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { TestIdp } from "../helpers/test-idp.js";
import { counterValue } from "../helpers/metrics.js";
import { bearer, grpcClient, METRICS_WITH_TOKEN, startTestService, STEPUP_TOTP_SECRET, type Role, type TestService } from "../helpers/service.js";

/**
 * The operator console in real Chromium (Debian's, driven by playwright-core), against a real
 * service on port 0 with fake upstreams: sign in, every page clicked through by keyboard and mouse,
 * a Terminate, a TerminateUser whose operation is followed live (WatchOperation) while Rocket.Chat
 * refuses and then comes back, a user's sessions in every provider (ListUserSessions) with a
 * failing provider's reason and an End there, errors shown with their reasons, an axe
 * scan of every page (no serious or critical violation), at 1280 and 390 pixels wide; a watch
 * renewed across the server's time limit and dropped connections; a sign-in refused unless its
 * check call succeeds; a malformed address. No page logs an error (a CSP violation would be one),
 * no asset fails to load, and nothing is stored in the browser after either kind of sign-in.
 * The files' serving itself: test/integration/console-serving.test.ts.
 *
 * Screenshots go to a temporary folder, or to CONSOLE_SCREENSHOTS (`npm run screenshots` writes
 * docs/console/, which the README shows).
 */
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const found = existsSync(CHROMIUM);
if (!found) {
  if (process.env["CI"]) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium with apt-get`);
  console.warn(`console browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
}

const RC_USER = "rc-console";
const RC_TOKEN = "rc-console-token";
const USER = "alice.example";
const PAGED_USER = "bob.example";
const LIVE_USER = "carol.example";
const DRIFT_USER = "dave.example";
const WATCHES = "session_control_operation_watches";
/** Where the console's calls go (gRPC-web); everything else it loads is an asset. */
const API_PATH = "/sessioncontrol.v1.SessionControl/";
/** Rocket.Chat settings of every test service: one attempt, a breaker that never opens. */
const COMMON = { max_attempts: 1, breaker_failures: 1000, timeout_ms: 3000 };
const OPERATIONS = { poll_ms: 50, retry_initial_ms: 100, retry_max_ms: 300, max_age_ms: 60_000 };

/** Polls until the assertion holds, for at most `timeoutMs` (the page changes by itself; never a fixed sleep). */
function poll<T>(fn: () => T | Promise<T>, timeoutMs = 5_000) {
  return expect.poll(fn, { timeout: timeoutMs, interval: 50 });
}

let svc: TestService;
let rocket: FakeRocketChat;
let unlicensed: FakeRocketChat;
/** Counts Rocket.Chat's logouts and can refuse them (503) for a while. */
let ledger: EndLedger;
let browser: Browser;
let idp: TestIdp;
let buildDir: string;
let shotsDir: string;
/** Local sessions of USER, created before the tests. */
let sessions: string[] = [];
/** The browser contexts the running test opened, with what their pages logged: checked and closed after each test. */
let opened: { context: BrowserContext; problems: string[] }[] = [];

describe.skipIf(!found)("operator console in Chromium", () => {
  beforeAll(async () => {
    buildDir = mkdtempSync(join(tmpdir(), "session-control-console-"));
    await build({ configFile: resolve("console/vite.config.ts"), logLevel: "warn", build: { outDir: buildDir, emptyOutDir: true } });
    shotsDir = process.env["CONSOLE_SCREENSHOTS"] ? resolve(process.env["CONSOLE_SCREENSHOTS"]) : join(buildDir, "screenshots");
    mkdirSync(shotsDir, { recursive: true });

    rocket = await FakeRocketChat.start();
    rocket.reset({ userId: RC_USER, authToken: RC_TOKEN });
    ledger = new EndLedger(rocket);
    // A workspace without the device-management licence: every call fails, with Rocket.Chat's own words.
    unlicensed = await FakeRocketChat.start();
    unlicensed.reset({ userId: RC_USER, authToken: RC_TOKEN, licence: "missing" });
    process.env["CONSOLE_RC_TOKEN"] = RC_TOKEN;
    idp = await TestIdp.start();
    svc = await startTestService({}, {
      console: { dir: buildDir },
      auth: { jwt_issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri }] },
      metrics: METRICS_WITH_TOKEN,
      providers: [
        { name: "local", type: "local" },
        { name: "chat", type: "rocketchat", base_url: rocket.url, user_id: RC_USER, auth_token: "env:CONSOLE_RC_TOKEN", ...COMMON },
        { name: "chat-eu", type: "rocketchat", base_url: unlicensed.url, user_id: RC_USER, auth_token: "env:CONSOLE_RC_TOKEN", ...COMMON },
      ],
      operations: OPERATIONS,
    });
    const client = grpcClient(svc);
    const admin = { headers: bearer(svc.keys.admin) };
    sessions = [];
    for (let i = 0; i < 3; i++) sessions.push((await client.createSession({ userId: USER }, admin)).sessionId);
    for (let i = 0; i < 2; i++) rocket.addSession({ sessionId: `rc-${i}`, userId: USER, loginToken: `lt-${i}`, device: { name: "laptop" } });
    // Twelve ended sessions of another user: an audit trail long enough for two pages of ten.
    for (let i = 0; i < 12; i++) {
      const { sessionId } = await client.createSession({ userId: PAGED_USER }, admin);
      await client.terminate({ sessionId, provider: "local", reason: `cleanup ${i}` }, admin);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    await Promise.all([rocket?.close(), unlicensed?.close()]);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  afterEach(async () => {
    const problems = opened.flatMap((o) => o.problems);
    await Promise.all(opened.map((o) => o.context.close()));
    opened = [];
    expect(problems).toEqual([]);
  });

  /** A page of the console on `on`. Whatever it logs as an error, and any asset it fails to load, fails the test (afterEach). */
  async function open(width: number, on: TestService = svc): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width, height: width > 600 ? 860 : 844 }, locale: "en-GB", timezoneId: "UTC", baseURL: on.baseUrl });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const problems: string[] = [];
    opened.push({ context, problems });
    // A call's failure is the page's business (it shows it); Chromium logs it as a failed resource.
    const isApi = (url: string | undefined) => url !== undefined && new URL(url, on.baseUrl).pathname.startsWith(API_PATH);
    page.on("console", (m) => {
      if (m.type() === "error" && !(/^Failed to load resource/.test(m.text()) && isApi(m.location().url))) problems.push(`console: ${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("response", (r) => {
      if (r.status() >= 400 && !isApi(r.url())) problems.push(`asset answered ${r.status()}: ${r.url()}`);
    });
    page.on("requestfailed", (r) => {
      if (!isApi(r.url())) problems.push(`asset failed: ${r.url()}: ${r.failure()?.errorText}`);
    });
    return { context, page };
  }

  async function signIn(page: Page, role: Role, on: TestService = svc): Promise<void> {
    await page.goto("/console/");
    await page.getByLabel("API key").fill(on.keys[role]);
    await page.keyboard.press("Enter");
    await poll(() => page.getByRole("navigation", { name: "Console" }).isVisible()).toBe(true);
  }

  /** Everything the page could have kept in the browser: the console keeps the key in memory only, so all of it stays empty. */
  async function stored(page: Page): Promise<unknown> {
    const inPage = await page.evaluate<unknown>(
      "(async () => ({ localStorage: localStorage.length, sessionStorage: sessionStorage.length, indexedDB: (await indexedDB.databases()).map((d) => d.name), caches: await caches.keys(), cookie: document.cookie }))()",
    );
    return { ...(inPage as object), cookies: await page.context().cookies() };
  }
  const NOTHING_STORED = { localStorage: 0, sessionStorage: 0, indexedDB: [], caches: [], cookie: "", cookies: [] };

  async function scan(page: Page, what: string): Promise<void> {
    const result = await new AxeBuilder({ page }).analyze();
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    expect(bad.map((v) => `${what}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
    // Usable at this width: nothing pushes the page sideways (wide tables scroll in their own region).
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    expect(overflow, `${what} is wider than the window`).toBeLessThanOrEqual(0);
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage: true });
  }

  async function nav(page: Page, name: string): Promise<void> {
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name }).click();
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toContain(name === "Audit trail" ? "Audit trail" : name);
  }

  it("at 1280 px: sign in, a user's sessions, end one, sign out everywhere, each page, by keyboard and mouse", async () => {
    const { page } = await open(1280);
    await page.goto("/console/");
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toContain("Sign in");
    await scan(page, "sign-in");
    await shot(page, "sign-in");

    // A text field that password managers leave alone (the key stays in memory), masked on screen.
    const keyField = page.getByLabel("API key");
    expect([await keyField.getAttribute("type"), await keyField.getAttribute("autocomplete"), await page.locator("input").count()]).toEqual(["text", "off", 1]);
    expect(await page.evaluate<string>(`getComputedStyle(document.getElementById("api-key")).getPropertyValue("-webkit-text-security")`)).toBe("disc");

    // A key that is no key: UNAUTHENTICATED, and still on the sign-in page.
    await page.getByLabel("API key").fill("not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await poll(() => page.getByRole("alert").textContent()).toContain("UNAUTHENTICATED");

    await signIn(page, "admin");
    expect(await stored(page)).toEqual(NOTHING_STORED);

    // Users: open one by keyboard.
    await page.getByLabel("User id").fill(USER);
    await page.keyboard.press("Enter");
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toContain(USER);
    const table = page.getByRole("region", { name: `Sessions of ${USER}` });
    await poll(() => table.getByRole("row").count()).toBe(4);
    await scan(page, "user");

    // End one session.
    await page.getByLabel("Reason for ending a session").fill("lost laptop");
    await page.getByRole("button", { name: `End session ${sessions[0]}` }).click();
    await poll(() => page.getByRole("status").filter({ hasText: "ended" }).first().textContent()).toContain(`Session ${sessions[0]} ended.`);
    await poll(() => table.getByRole("row").filter({ hasText: sessions[0]! }).textContent()).toContain("lost laptop");

    // Sign out everywhere: the operation is shown, with each provider's part; the unlicensed workspace's failure in its own words.
    await page.getByLabel("Reason (required)").fill("incident 42");
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await poll(() => page.getByRole("status").filter({ hasText: "Operation started" }).count()).toBe(1);
    // No refreshing: the progress follows WatchOperation until the operation is done.
    const progress = page.getByRole("region", { name: /^Progress of operation/ });
    await poll(() => progress.textContent()).toMatch(/error-action-not-allowed|enterprise feature/);
    await poll(() => page.getByRole("status").filter({ hasText: /^Done: / }).textContent()).toMatch(/Ended 4/);
    expect(await progress.getByRole("row", { name: /^local/ }).textContent()).toMatch(/yes2/);
    expect(await progress.getByRole("row", { name: /^chat alice/ }).textContent()).toMatch(/yes2/);
    expect(await progress.getByRole("row", { name: /^chat-eu/ }).textContent()).toContain("FAILED_PRECONDITION");
    expect(rocket.sessions.get("rc-0")?.loginToken).toBeUndefined();
    await scan(page, "user after sign-out everywhere");
    await shot(page, "user");

    // The operation's own page.
    await page.getByRole("link", { name: /^open operation/ }).click();
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Operation");
    await poll(() => page.getByText("incident 42").count()).toBeGreaterThan(0);
    await scan(page, "operation");
    await shot(page, "operation");

    // Operations: the list, and back to the detail by keyboard.
    await nav(page, "Operations");
    const ops = page.getByRole("region", { name: "Operations" });
    await poll(() => ops.getByRole("row").count()).toBe(2);
    await scan(page, "operations");
    await shot(page, "operations");

    // Audit trail: filtered by user, then paged.
    await nav(page, "Audit trail");
    await page.getByLabel("User id").fill(USER);
    await page.getByRole("button", { name: "Apply filters" }).click();
    const events = page.getByRole("region", { name: "Audit events" });
    await poll(() => events.textContent()).toContain("lost laptop");
    expect(await events.textContent()).not.toContain(PAGED_USER);
    await scan(page, "audit");
    await shot(page, "audit");
    await page.getByLabel("User id").fill(PAGED_USER);
    await page.getByLabel("Per page").selectOption("10");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await poll(() => events.getByRole("row").count()).toBe(11);
    await page.getByRole("button", { name: "Next page" }).click();
    await poll(() => events.getByRole("row").count()).toBe(3);
    await page.getByRole("button", { name: "Previous page" }).click();
    await poll(() => events.getByRole("row").count()).toBe(11);

    // Providers: type, breaker, last success and last error.
    await nav(page, "Providers");
    const providers = page.getByRole("region", { name: "Providers" });
    await poll(() => providers.getByRole("row").count()).toBe(4);
    expect(await providers.getByRole("row", { name: /^chat-eu/ }).textContent()).toContain("FAILED_PRECONDITION");
    expect(await providers.getByRole("row", { name: /^chat rocketchat/ }).textContent()).toContain("closed");
    await scan(page, "providers");
    await shot(page, "providers");

    // Keyboard: the skip link comes first and takes the focus to the content.
    await page.getByText("session-control", { exact: true }).click();
    await page.keyboard.press("Shift+Tab");
    expect(await page.evaluate<string | undefined>("document.activeElement?.textContent")).toBe("Skip to content");
    await page.keyboard.press("Enter");
    expect(await page.evaluate<string | undefined>("document.activeElement?.id")).toBe("main");
  });

  it("a user's sessions across providers, one ended there; sign-out everywhere followed live while Rocket.Chat refuses, then comes back", async () => {
    const { page } = await open(1280);
    const watches = () => counterValue(svc.baseUrl, WATCHES, {});
    await grpcClient(svc).createSession({ userId: LIVE_USER }, { headers: bearer(svc.keys.admin) });
    const [rc0, rc1, rc2] = ledger.addSessions(LIVE_USER, 3);
    await signIn(page, "admin");
    await page.getByLabel("User id").fill(LIVE_USER);
    await page.keyboard.press("Enter");

    // ListUserSessions: a section per provider; Rocket.Chat's sessions, the unlicensed workspace's failure in its own words.
    const chat = page.getByRole("region", { name: "Sessions in chat", exact: true });
    await poll(() => chat.getByRole("row").count()).toBe(4);
    for (const id of [rc0!, rc1!, rc2!]) expect(await chat.getByRole("row", { name: new RegExp(`^${id}`) }).textContent()).toContain("active");
    const eu = page.getByRole("region", { name: /^chat-eu/ });
    await poll(() => eu.textContent()).toContain("FAILED_PRECONDITION");
    expect(await eu.textContent()).toContain("PROVIDER_LICENSE_REQUIRED");
    expect(await eu.textContent()).toMatch(/enterprise feature/);
    await poll(() => page.getByRole("region", { name: /^Sessions of/ }).textContent()).toContain("1 sessions");
    await scan(page, "user across providers");
    await shot(page, "user-providers");

    // End one in Rocket.Chat, from its part.
    await page.getByLabel("Reason for ending a provider's session").fill("stolen phone");
    await page.getByRole("button", { name: `End session ${rc2} in chat`, exact: true }).click();
    await poll(() => page.getByRole("status").filter({ hasText: "in chat ended" }).textContent()).toBe(`Session ${rc2} in chat ended.`);
    await poll(() => chat.getByRole("row").count()).toBe(3);
    expect(ledger.ended.get(rc2!)).toBe(1);

    // Sign out everywhere while Rocket.Chat refuses logouts: the progress shows Rocket.Chat's part pending and retrying ...
    ledger.logoutDown = true;
    const live = page.getByRole("status").filter({ hasText: /^(In progress|Done): / });
    await page.getByLabel("Reason (required)").fill("incident 43");
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await poll(() => live.textContent()).toMatch(/^In progress: Ended 1, .*Pending 2, .*Following live\.$/);
    const progress = page.getByRole("region", { name: /^Progress of operation/ });
    await poll(() => progress.getByRole("row", { name: /^chat carol/ }).textContent()).toMatch(/UNAVAILABLE.*retrying/);
    await poll(() => watches()).toBe(1);
    await scan(page, "user, sign-out everywhere in progress");

    // ... on the operation's own page too (the user page's stream is cancelled, the operation page's opened) ...
    await page.getByRole("link", { name: /^open operation/ }).click();
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Operation");
    await poll(() => live.textContent()).toMatch(/^In progress: .*Pending 2/);
    await poll(() => watches()).toBe(1);
    await scan(page, "operation in progress");
    await shot(page, "operation-live");
    // Leaving the page cancels its stream; coming back opens another.
    await nav(page, "Operations");
    await poll(() => watches()).toBe(0);
    await page.goBack();
    await poll(() => live.textContent()).toMatch(/^In progress: .*Pending 2/);
    await poll(() => watches()).toBe(1);

    // ... and once Rocket.Chat is back, the page changes by itself to the end: done, every session ended, the stream over.
    ledger.logoutDown = false;
    await poll(() => live.textContent(), 10_000).toMatch(/^Done: Ended 3, Already ended 0, Pending 0, /);
    expect(await page.getByText("done", { exact: true }).count()).toBe(1);
    expect(await progress.getByRole("row", { name: /^chat carol/ }).textContent()).not.toContain("retrying");
    await poll(() => watches()).toBe(0);
    expect(ledger.active().filter((id) => id.startsWith(LIVE_USER))).toEqual([]);
    await scan(page, "operation done");
  });

  it("signs in with a JWT of a trusted issuer, and shows why another is refused", async () => {
    const { page } = await open(1280);
    await page.goto("/console/");
    const wrongAudience = await idp.sign({ sub: "ops-bot", aud: "https://elsewhere.example", permissions: ["session.read"] });
    await page.getByLabel("API key or access token (JWT)").fill(wrongAudience);
    await page.keyboard.press("Enter");
    const alert = page.getByRole("alert");
    await poll(() => alert.textContent()).toContain("TOKEN_AUDIENCE_INVALID");
    expect(await alert.textContent()).not.toContain(wrongAudience.split(".")[1]!);
    await page.getByLabel("API key or access token (JWT)").fill(await idp.sign({ sub: "ops-bot", aud: svc.baseUrl, permissions: ["session.read"] }));
    await page.keyboard.press("Enter");
    await poll(() => page.getByRole("navigation", { name: "Console" }).isVisible()).toBe(true);
    expect(await stored(page)).toEqual(NOTHING_STORED);
    await nav(page, "Providers");
    await poll(() => page.getByRole("region", { name: "Providers" }).textContent()).toContain("chat-eu");
    await scan(page, "providers, signed in with a JWT");
  });

  it("signs in only when the check call succeeds: an unavailable server is shown with its code and reason, and the page stays on sign-in", async () => {
    const { page } = await open(1280);
    // The server's own answer while it shuts down (trailers-only gRPC-web, ErrorInfo in grpc-status-details-bin).
    const status = create(StatusSchema, {
      code: 14,
      message: "the server is shutting down",
      details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "SERVER_SHUTTING_DOWN", domain: "session-control" }))],
    });
    const unavailable = {
      status: 200,
      headers: {
        "content-type": "application/grpc-web+proto",
        "grpc-status": "14",
        "grpc-message": encodeURIComponent(status.message),
        "grpc-status-details-bin": Buffer.from(toBinary(StatusSchema, status)).toString("base64"),
      },
      body: "",
    };
    await page.route(`**${API_PATH}ListProviders`, (route) => route.fulfill(unavailable));
    await page.goto("/console/");
    await page.getByLabel("API key").fill(svc.keys.admin);
    await page.keyboard.press("Enter");
    const alert = page.getByRole("alert");
    await poll(() => alert.textContent()).toContain("UNAVAILABLE");
    expect(await alert.textContent()).toContain("SERVER_SHUTTING_DOWN");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toContain("Sign in");
    expect(await page.getByRole("navigation", { name: "Console" }).count()).toBe(0);
    // The server back: the same key signs in.
    await page.unroute(`**${API_PATH}ListProviders`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await poll(() => page.getByRole("navigation", { name: "Console" }).isVisible()).toBe(true);
  });

  it("an address that names no page, even a malformed one, shows a page that says so", async () => {
    const { page } = await open(1280);
    // A lone "%" that decodeURIComponent refuses: the console still starts, signs in, and says the address is wrong.
    await page.goto("/console/users/%E0%A4%A");
    await page.getByLabel("API key").fill(svc.keys.reader);
    await page.keyboard.press("Enter");
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Page not found");
    expect(await page.locator("main").textContent()).toContain("/console/users/%E0%A4%A");
    expect(await page.title()).toMatch(/^Page not found/);
    await scan(page, "not found");
    await page.getByRole("link", { name: "Go to Users" }).click();
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Users");
    await page.goto("/console/no-such-page");
    await page.getByLabel("API key").fill(svc.keys.reader);
    await page.keyboard.press("Enter");
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Page not found");
  });

  it("follows an operation across the server's watch time limit and dropped connections, to done, without a click", async () => {
    // Watches here last 1 s (server.max_timeout_ms); the operation, held by Rocket.Chat refusing logouts, outlives several.
    const short = await startTestService({ max_timeout_ms: 1_000 }, {
      console: { dir: buildDir },
      metrics: METRICS_WITH_TOKEN,
      providers: [
        { name: "local", type: "local" },
        { name: "chat", type: "rocketchat", base_url: rocket.url, user_id: RC_USER, auth_token: "env:CONSOLE_RC_TOKEN", ...COMMON },
      ],
      operations: OPERATIONS,
    });
    try {
      const timeLimits = () => counterValue(short.baseUrl, "session_control_calls_total", { procedure: `${API_PATH}WatchOperation`, code: "DEADLINE_EXCEEDED" });
      ledger.addSessions(DRIFT_USER, 2);
      ledger.logoutDown = true;
      const { context, page } = await open(1280, short);
      // The first two watches lose their connection (as in a rolling restart); later ones go through.
      let drops = 2;
      await context.route(`**${API_PATH}WatchOperation`, (route) => (drops-- > 0 ? route.abort("connectionreset") : route.continue()));
      await signIn(page, "admin", short);
      await page.getByLabel("User id").fill(DRIFT_USER);
      await page.keyboard.press("Enter");
      await page.getByLabel("Reason (required)").fill("incident 44");
      await page.getByRole("button", { name: "Sign out everywhere" }).click();

      const live = page.getByRole("status").filter({ hasText: /^(In progress|Done): / });
      await poll(() => live.textContent()).toMatch(/^In progress: .*Connection lost: reconnecting…$/);
      await poll(() => live.textContent()).toMatch(/^In progress: Ended 0, .*Pending 2, .*Following live\.$/);
      // The server ends each watch at its limit; the page watches again by itself and keeps showing progress.
      await poll(() => timeLimits(), 10_000).toBeGreaterThanOrEqual(2);
      expect(await live.textContent()).toMatch(/^In progress: .*Following live\.$/);
      expect(await page.getByRole("alert").count()).toBe(0);

      ledger.logoutDown = false;
      await poll(() => live.textContent(), 10_000).toMatch(/^Done: Ended 2, Already ended 0, Pending 0, /);
      expect(await page.getByRole("button", { name: "Watch again" }).count()).toBe(0);
      expect(drops).toBeLessThan(0);
      await poll(() => counterValue(short.baseUrl, WATCHES, {})).toBe(0);
      // Closed before the service stops, which then has no connection to wait for.
      await context.close();
    } finally {
      ledger.logoutDown = false;
      await short.stop();
    }
  });

  it("shows a refusal with its code and reason: a key without session.delete ends nothing", async () => {
    const { page } = await open(1280);
    const { sessionId } = await grpcClient(svc).createSession({ userId: USER }, { headers: bearer(svc.keys.admin) });
    await signIn(page, "reader");
    await page.getByLabel("User id").fill(USER);
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: `End session ${sessionId}` }).click();
    const alert = page.getByRole("alert");
    await poll(() => alert.textContent()).toContain("PERMISSION_DENIED");
    expect(await alert.locator("code.reason").count()).toBe(1);
    await scan(page, "error");
    await shot(page, "error");
  });

  it("asks a step-up key for its code: without it TOTP_REQUIRED is shown, with it the operation starts", async () => {
    const { page } = await open(1280);
    await signIn(page, "stepup");
    await page.getByLabel("User id").fill(PAGED_USER);
    await page.keyboard.press("Enter");
    await page.getByLabel("Reason (required)").fill("step-up check");
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await poll(() => page.getByRole("alert").textContent()).toContain("TOTP_REQUIRED");
    await page.getByLabel(/Step-up code/).fill(totp(base32Decode(STEPUP_TOTP_SECRET)!, Date.now()));
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await poll(() => page.getByRole("status").filter({ hasText: "Operation started" }).count()).toBe(1);
  });

  it("at 390 px: every page fits, passes the scan and is pictured", async () => {
    const { page } = await open(390);
    await page.goto("/console/");
    await scan(page, "sign-in 390");
    await shot(page, "sign-in-390");
    await signIn(page, "admin");
    await scan(page, "users 390");
    await page.getByLabel("User id").fill(USER);
    await page.keyboard.press("Enter");
    await poll(() => page.getByRole("region", { name: `Sessions of ${USER}` }).getByRole("row").count()).toBeGreaterThanOrEqual(4);
    await poll(() => page.getByRole("region", { name: /^chat-eu/ }).textContent()).toContain("FAILED_PRECONDITION");
    await scan(page, "user 390");
    await shot(page, "user-390");
    for (const [name, file] of [["Audit trail", "audit-390"], ["Providers", "providers-390"], ["Operations", "operations-390"]] as const) {
      await nav(page, name);
      await poll(() => page.getByRole("table").count()).toBeGreaterThan(0);
      await scan(page, `${name} 390`);
      await shot(page, file);
    }
    await page.getByRole("region", { name: "Operations" }).getByRole("link").first().click();
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Operation");
    await poll(() => page.getByRole("table").count()).toBe(1);
    await scan(page, "operation 390");
    await shot(page, "operation-390");
  });
});
