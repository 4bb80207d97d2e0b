import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import tls from "node:tls";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

let svc: TestService;
let ca: Buffer;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "sc-tls-"));
  const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  ca = readFileSync(cert);
  svc = await startTestService({ tls: { cert_file: cert, key_file: key } });
});
afterAll(() => svc.stop());

describe("TLS on the one port", () => {
  it("serves gRPC over h2, chosen by ALPN", async () => {
    const client = createClient(SessionControl, createGrpcTransport({ baseUrl: svc.baseUrl, nodeOptions: { ca } }));
    const res = await client.createSession({ userId: "tls-user" }, { headers: bearer(svc.keys.admin) });
    expect(res.sessionId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("serves Connect over HTTP/1.1, chosen by ALPN", async () => {
    const client = createClient(SessionControl, createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "1.1", nodeOptions: { ca } }));
    const res = await client.createSession({ userId: "tls-user" }, { headers: bearer(svc.keys.admin) });
    const ended = await client.terminate({ sessionId: res.sessionId, sessionToken: res.sessionToken }, { headers: bearer(svc.keys.nobody) });
    expect(ended.alreadyTerminated).toBe(false);
  });

  it("negotiates http/1.1 for clients that offer only it", async () => {
    const socket = tls.connect({ host: "127.0.0.1", port: svc.port, ca, servername: "localhost", ALPNProtocols: ["http/1.1"] });
    await new Promise((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    expect(socket.alpnProtocol).toBe("http/1.1");
    socket.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    let answer = "";
    for await (const chunk of socket) answer += String(chunk);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('{"status":"SERVING"}');
  });

  it("serves @grpc/grpc-js with TLS credentials", async () => {
    const client = new grpc.Client(`127.0.0.1:${svc.port}`, grpc.credentials.createSsl(ca));
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => resolve(err ?? ({ code: 0 } as grpc.StatusObject)));
    });
    client.close();
    expect(status.code).toBe(grpc.status.OK);
  });

  it("refuses plaintext on the TLS port without harming other clients", async () => {
    const plain = createClient(SessionControl, createGrpcTransport({ baseUrl: svc.baseUrl.replace("https", "http") }));
    await expect(plain.getSession({ sessionId: "x" }, { headers: bearer(svc.keys.admin), timeoutMs: 2000 })).rejects.toThrow();
    const client = createClient(SessionControl, createGrpcTransport({ baseUrl: svc.baseUrl, nodeOptions: { ca } }));
    await expect(client.createSession({ userId: "after" }, { headers: bearer(svc.keys.admin) })).resolves.toBeDefined();
  });
});
