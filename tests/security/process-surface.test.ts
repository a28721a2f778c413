import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { CredProxyProcess, launchTargets } from "../support/credproxy-process.ts";
import { FakeSts } from "../support/fake-sts.ts";

const TOKEN = "process-surface-token-0123456789";
const EXTERNAL_ID = "external-id-process-surface-42";
const SOURCE = { accessKeyId: "AKIAPROCESSSURFACE01", secretAccessKey: "process-surface-source-secret-000000000" };
const ROLE_ARN = "arn:aws:iam::123456789012:role/surface";

function config(sts: FakeSts, extra: Record<string, unknown> = {}) {
  return {
    aws_defaults: {
      region: "us-east-1",
      sts_endpoint: sts.url,
      iam_keys: { aws_access_key_id: SOURCE.accessKeyId, aws_secret_access_key: SOURCE.secretAccessKey },
    },
    services: { web: { auth_token: TOKEN, assumed_role: { RoleArn: ROLE_ARN, ExternalId: EXTERNAL_ID } } },
    ...extra,
  };
}

async function startSts(): Promise<FakeSts> {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE);
  return sts;
}

/** Opens a raw TCP connection to the process and resolves once connected. */
function rawSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Resolves with the bytes received once the server closes the socket, or rejects after `ms`. */
function closedBy(socket: Socket, ms: number): Promise<string> {
  let received = "";
  socket.on("data", (chunk) => (received += chunk));
  socket.on("error", () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`The server kept the connection open for ${ms} ms`)), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

for (const target of launchTargets()) {
  test(`${target.name}: a slow client is cut off while others are served`, async () => {
    const sts = await startSts();
    const proxy = await CredProxyProcess.start({ target, config: config(sts, { server: { header_timeout_seconds: 1, connection_guard: "always" } }), secrets: [SOURCE.secretAccessKey] });
    try {
      const slow = await rawSocket(proxy.url);
      const closed = closedBy(slow, 20_000);
      slow.write("GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      const drip = setInterval(() => slow.write("X-Slow: 1\r\n"), 200);

      const served = await proxy.request("/v1/credentials", TOKEN);
      assert.equal(served.status, 200);
      const received = await closed.finally(() => clearInterval(drip));
      assert.equal(received, "");
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`${target.name}: connections beyond max_connections are closed`, async () => {
    const sts = await startSts();
    const proxy = await CredProxyProcess.start({
      target,
      config: config(sts, { server: { max_connections: 3, header_timeout_seconds: 60, connection_guard: "always" } }),
      secrets: [SOURCE.secretAccessKey],
    });
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) idle.push(await rawSocket(proxy.url));
      const extra = await rawSocket(proxy.url);
      assert.equal(await closedBy(extra, 10_000), "");

      for (const socket of idle) socket.destroy();
      // The guard notices the closed sockets asynchronously.
      let status = 0;
      for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
        status = await proxy.request("/health").then((response) => response.status, () => 0);
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(status, 200);
    } finally {
      for (const socket of idle) socket.destroy();
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`${target.name}: AccessDenied reaches the client and the log without secrets`, async () => {
    const sts = await startSts();
    sts.deny();
    const proxy = await CredProxyProcess.start({ target, config: config(sts), secrets: [SOURCE.secretAccessKey, EXTERNAL_ID] });
    try {
      const response = await proxy.request("/v1/credentials", TOKEN);
      assert.equal(response.status, 403);
      assert.equal(response.body.Code, "AccessDenied");
      assert.equal(response.body.code, "AccessDenied");
      assert.match(response.body.Message, /service "web"/);
      assert.ok(!JSON.stringify(response.body).includes(EXTERNAL_ID));

      const failure = proxy.logRecords().find((record) => record.errorCode === "AccessDenied");
      assert.ok(failure, "no log line for the failed fetch");
      assert.deepEqual(
        { roleArn: failure.roleArn, externalIdSet: failure.externalIdSet, mfaSet: failure.mfaSet },
        { roleArn: ROLE_ARN, externalIdSet: true, mfaSet: false },
      );
      assert.ok(!proxy.logs.includes(EXTERNAL_ID));
      assert.ok(!proxy.logs.includes(SOURCE.secretAccessKey));
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`${target.name}: a failed authentication logs a fingerprint only`, async () => {
    const sts = await startSts();
    const proxy = await CredProxyProcess.start({ target, config: config(sts), secrets: [SOURCE.secretAccessKey] });
    const guess = "QZXJguessedTokenValue0123456789";
    try {
      assert.equal((await proxy.request("/v1/credentials", guess)).status, 401);
      await proxy.request("/health");

      const line = proxy.logRecords().find((record) => record.status === 401);
      assert.ok(line, "no request log line for the 401");
      assert.match(String(line.tokenFingerprint), /^[0-9a-f]{8}$/);
      assert.ok(!proxy.logs.includes(guess.slice(0, 4)), "the log contains a prefix of the token");
      assert.ok(!proxy.logs.includes(TOKEN.slice(0, 12)), "the log contains a prefix of a configured token");
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`${target.name}: binds loopback unless configured`, async () => {
    const sts = await startSts();
    const proxy = await CredProxyProcess.start({ target, config: config(sts), secrets: [SOURCE.secretAccessKey] });
    try {
      assert.equal(new URL(proxy.url).hostname, "127.0.0.1");
      assert.equal((await proxy.request("/health")).status, 200);
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });
}
