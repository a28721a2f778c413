import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { after, before, beforeEach, describe, it } from "node:test";
import { Sha256 } from "@aws-crypto/sha256-js";
import {
  AssumeRoleCommand,
  type AssumeRoleCommandInput,
  type Credentials,
  GetCallerIdentityCommand,
  GetSessionTokenCommand,
  STSClient,
} from "@aws-sdk/client-sts";
import { SignatureV4 } from "@smithy/signature-v4";
import fc from "fast-check";
import { FakeSts } from "./support/fake-sts.ts";
import {
  parseAuthorization,
  type SigV4Request,
  uriEncode,
  verifySignature,
} from "./support/sigv4.ts";

const SOURCE = {
  accessKeyId: "AKIASOURCEEXAMPLE123",
  secretAccessKey: "source/secret+key/EXAMPLE0000000000000000",
};
const ROLE_ARN = "arn:aws:iam::210987654321:role/team/app-role";
const EXPIRATION = /<Expiration>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z<\/Expiration>/;

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

function client(sts: FakeSts, keys: Keys = SOURCE): STSClient {
  return new STSClient({
    endpoint: sts.url,
    region: "us-east-1",
    credentials: keys,
    maxAttempts: 1,
  });
}

function keysOf(credentials: Credentials | undefined): Keys {
  assert.ok(credentials?.AccessKeyId, "Expected an AccessKeyId");
  assert.ok(credentials.SecretAccessKey, "Expected a SecretAccessKey");
  assert.ok(credentials.SessionToken, "Expected a SessionToken");
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
  };
}

function assumeRole(
  sts: FakeSts,
  input: Partial<AssumeRoleCommandInput> = {},
  keys: Keys = SOURCE,
) {
  return client(sts, keys).send(
    new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: "test-session", ...input }),
  );
}

// Returns the error an SDK call failed with, reduced to the fields a caller checks.
async function failure(
  promise: Promise<unknown>,
): Promise<{ name: string; message: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  assert.fail("Expected the call to fail");
}

// Signs a request with the SDK's own signer and sends it with fetch, to read the raw response.
async function signedFetch(
  sts: FakeSts,
  params: Record<string, string>,
  options: { method?: "GET" | "POST"; keys?: Keys } = {},
): Promise<{ status: number; body: string }> {
  const url = new URL(sts.url);
  const form = new URLSearchParams({ Version: "2011-06-15", ...params }).toString();
  const method = options.method ?? "POST";
  const signer = new SignatureV4({
    credentials: options.keys ?? SOURCE,
    region: "us-east-1",
    service: "sts",
    sha256: Sha256,
  });
  const query = method === "GET" ? Object.fromEntries(new URLSearchParams(form)) : {};
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: url.hostname,
    port: Number(url.port),
    path: "/",
    query,
    headers: {
      host: url.host,
      ...(method === "POST"
        ? { "content-type": "application/x-www-form-urlencoded; charset=utf-8" }
        : {}),
    },
    body: method === "POST" ? form : undefined,
  });
  const search = Object.entries(query).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join("&");
  const response = await fetch(`${sts.url}/${search ? `?${search}` : ""}`, {
    method,
    headers: signed.headers,
    body: signed.body,
  });
  return { status: response.status, body: await response.text() };
}

describe("verifySignature()", () => {
  const keys = {
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  };

  async function smithySigned(
    input: { query?: Record<string, string>; headers?: Record<string, string>; body?: string },
  ): Promise<SigV4Request> {
    const signer = new SignatureV4({
      credentials: keys,
      region: "eu-central-1",
      service: "sts",
      sha256: Sha256,
    });
    const signed = await signer.sign({
      method: "POST",
      protocol: "http:",
      hostname: "127.0.0.1",
      port: 4000,
      path: "/",
      query: input.query ?? {},
      headers: { host: "127.0.0.1:4000", ...input.headers },
      body: input.body ?? "",
    });
    const search = Object.entries(signed.query ?? {}).map(([k, v]) =>
      `${uriEncode(k)}=${uriEncode(String(v))}`
    ).join("&");
    return {
      method: signed.method,
      rawUrl: search ? `/?${search}` : "/",
      rawHeaders: Object.entries(signed.headers).flat(),
      body: new TextEncoder().encode(signed.body as string),
    };
  }

  function verify(request: SigV4Request, secret = keys.secretAccessKey): boolean {
    const headers = new Map(Object.entries(Object.fromEntries(
      Array.from({ length: request.rawHeaders.length / 2 }, (_, i) => [
        request.rawHeaders[2 * i].toLowerCase(),
        request.rawHeaders[2 * i + 1],
      ]),
    )));
    const authorization = parseAuthorization(headers.get("authorization") ?? "");
    assert.ok(authorization, "Expected a SigV4 Authorization header");
    return verifySignature(request, authorization, headers.get("x-amz-date") ?? "", secret);
  }

  it("verifySignature() accepts smithy signatures", async () => {
    await fc.assert(
      fc.asyncProperty(
        // "__proto__" as a key is an artefact of plain objects as query bags, not of SigV4.
        fc.dictionary(
          fc.string({ minLength: 1 }).filter((key) => key !== "__proto__"),
          fc.string(),
        ),
        fc.string({ unit: fc.constantFrom("a", " ", "\t", "=", ";", "/", "Z") }),
        fc.string(),
        async (query, headerValue, body) => {
          const request = await smithySigned({
            query,
            headers: { "x-custom": `v${headerValue}v` },
            body,
          });
          assert.equal(verify(request), true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("verifySignature() rejects changed body", async () => {
    const request = await smithySigned({ body: "Action=AssumeRole&DurationSeconds=900" });
    const tampered = {
      ...request,
      body: new TextEncoder().encode("Action=AssumeRole&DurationSeconds=43200"),
    };
    assert.equal(verify(request), true);
    assert.equal(verify(tampered), false);
  });

  it("verifySignature() rejects changed signed header", async () => {
    const request = await smithySigned({ headers: { "x-custom": "one" } });
    const rawHeaders = request.rawHeaders.map((value) => (value === "one" ? "two" : value));
    assert.equal(verify(request), true);
    assert.equal(verify({ ...request, rawHeaders }), false);
  });

  it("verifySignature() rejects changed query", async () => {
    const request = await smithySigned({ query: { Action: "GetCallerIdentity" } });
    const tampered = { ...request, rawUrl: "/?Action=GetSessionToken" };
    assert.equal(verify(request), true);
    assert.equal(verify(tampered), false);
  });

  it("verifySignature() accepts UNSIGNED-PAYLOAD", async () => {
    const request = await smithySigned({
      headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
      body: "Action=A",
    });
    const otherBody = { ...request, body: new TextEncoder().encode("Action=B") };
    assert.equal(verify(request), true);
    assert.equal(verify(otherBody), true, "UNSIGNED-PAYLOAD leaves the body out of the signature");
  });

  it("verifySignature() rejects another secret", async () => {
    const request = await smithySigned({ body: "Action=GetCallerIdentity" });
    assert.equal(verify(request, "another-secret"), false);
  });
});

describe("FakeSts", () => {
  let sts: FakeSts;

  before(async () => {
    sts = await FakeSts.start();
  });

  after(async () => {
    await sts.stop();
  });

  beforeEach(() => {
    sts.reset();
    sts.clearCalls();
    sts.addIdentity(SOURCE);
  });

  it("AssumeRole credentials act as role", async () => {
    const assumed = await assumeRole(sts);
    const identity = await client(sts, keysOf(assumed.Credentials)).send(
      new GetCallerIdentityCommand({}),
    );
    assert.deepEqual(
      { Arn: identity.Arn, Account: identity.Account, UserId: identity.UserId },
      {
        Arn: "arn:aws:sts::210987654321:assumed-role/app-role/test-session",
        Account: "210987654321",
        UserId: assumed.AssumedRoleUser?.AssumedRoleId,
      },
    );
  });

  it("AssumeRole returns documented credential shapes", async () => {
    const { Credentials, AssumedRoleUser } = await assumeRole(sts);
    assert.match(Credentials?.AccessKeyId ?? "", /^ASIA[A-Z2-7]{16}$/);
    assert.equal(Credentials?.SecretAccessKey?.length, 40);
    assert.match(Credentials?.SessionToken ?? "", /^[A-Za-z0-9+/=]{200,}$/);
    assert.match(AssumedRoleUser?.AssumedRoleId ?? "", /^AROA[A-Z2-7]{17}:test-session$/);
    assert.equal(
      AssumedRoleUser?.Arn,
      "arn:aws:sts::210987654321:assumed-role/app-role/test-session",
    );
  });

  it("AssumeRole records every client parameter", async () => {
    await assumeRole(sts, {
      ExternalId: "external-id-1",
      DurationSeconds: 900,
      Policy: '{"Version":"2012-10-17","Statement":[]}',
      PolicyArns: [{ arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }],
      Tags: [{ Key: "team", Value: "blue green" }],
      TransitiveTagKeys: ["team"],
      SourceIdentity: "alice",
      SerialNumber: "arn:aws:iam::123456789012:mfa/alice",
      TokenCode: "123456",
    });
    assert.deepEqual(sts.calls.map(({ at: _, ...call }) => call), [{
      action: "AssumeRole",
      accessKeyId: SOURCE.accessKeyId,
      region: "us-east-1",
      signatureValid: true,
      status: 200,
      errorCode: undefined,
      params: {
        Action: "AssumeRole",
        Version: "2011-06-15",
        RoleArn: ROLE_ARN,
        RoleSessionName: "test-session",
        ExternalId: "external-id-1",
        DurationSeconds: "900",
        Policy: '{"Version":"2012-10-17","Statement":[]}',
        "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "blue green",
        "TransitiveTagKeys.member.1": "team",
        SourceIdentity: "alice",
        SerialNumber: "arn:aws:iam::123456789012:mfa/alice",
        TokenCode: "123456",
      },
    }]);
  });

  it("AssumeRole returns SourceIdentity, PackedPolicySize", async () => {
    const plain = await assumeRole(sts);
    const tagged = await assumeRole(sts, {
      SourceIdentity: "alice",
      Tags: [{ Key: "k", Value: "v" }],
    });
    assert.equal(plain.SourceIdentity, undefined);
    assert.equal(plain.PackedPolicySize, undefined);
    assert.equal(tagged.SourceIdentity, "alice");
    assert.equal(typeof tagged.PackedPolicySize, "number");
  });

  it("AssumeRole Expiration format and default", async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const { status, body } = await signedFetch(sts, {
      Action: "AssumeRole",
      RoleArn: ROLE_ARN,
      RoleSessionName: "s1",
    });
    const expiration = Date.parse(/<Expiration>([^<]+)<\/Expiration>/.exec(body)?.[1] ?? "");
    assert.equal(status, 200);
    assert.match(body, EXPIRATION);
    assert.ok(expiration >= before + 3600_000, `Expiration ${expiration}`);
    assert.ok(expiration <= Date.now() + 3600_000, `Expiration ${expiration}`);
  });

  it("AssumeRole responds in STS XML namespace", async () => {
    const { body } = await signedFetch(sts, {
      Action: "AssumeRole",
      RoleArn: ROLE_ARN,
      RoleSessionName: "s1",
    });
    assert.match(
      body,
      /^<AssumeRoleResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/,
    );
    assert.match(
      body,
      /<ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId><\/ResponseMetadata>/,
    );
  });

  it("AssumeRole accepts every partition", async () => {
    const arns = ["aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"].map((p) =>
      `arn:${p}:iam::123456789012:role/r`
    );
    const users = await Promise.all(
      arns.map(async (RoleArn) => (await assumeRole(sts, { RoleArn })).AssumedRoleUser?.Arn),
    );
    assert.deepEqual(users, [
      "arn:aws-cn:sts::123456789012:assumed-role/r/test-session",
      "arn:aws-us-gov:sts::123456789012:assumed-role/r/test-session",
      "arn:aws-iso:sts::123456789012:assumed-role/r/test-session",
      "arn:aws-iso-b:sts::123456789012:assumed-role/r/test-session",
    ]);
  });

  it("AssumeRole rejects malformed RoleArn", async () => {
    const result = await failure(
      assumeRole(sts, { RoleArn: "arn:aws:iam::12345:user/not-a-role" }),
    );
    assert.deepEqual({ ...result, message: undefined }, {
      name: "ValidationError",
      status: 400,
      message: undefined,
    });
    assert.match(result.message, /roleArn/);
  });

  it("AssumeRole rejects invalid RoleSessionName", async () => {
    const results = await Promise.all(
      ["x", "has space", "a".repeat(65)].map(async (RoleSessionName) =>
        (await failure(assumeRole(sts, { RoleSessionName }))).name
      ),
    );
    assert.deepEqual(results, ["ValidationError", "ValidationError", "ValidationError"]);
  });

  it("AssumeRole rejects out-of-range DurationSeconds", async () => {
    const results = await Promise.all(
      [899, 43201].map(async (DurationSeconds) =>
        (await failure(assumeRole(sts, { DurationSeconds }))).name
      ),
    );
    const longest = await assumeRole(sts, { DurationSeconds: 43200 });
    assert.deepEqual(results, ["ValidationError", "ValidationError"]);
    assert.ok(longest.Credentials?.Expiration);
  });

  it("AssumeRole caps role chaining at 1 hour", async () => {
    const first = keysOf((await assumeRole(sts)).Credentials);
    const chained = await assumeRole(sts, { DurationSeconds: 3600 }, first);
    assert.deepEqual(await failure(assumeRole(sts, { DurationSeconds: 3601 }, first)), {
      name: "ValidationError",
      status: 400,
      message:
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    });
    assert.ok(chained.Credentials?.AccessKeyId);
  });

  it("AssumeRole accepts GET query parameters", async () => {
    const { status, body } = await signedFetch(
      sts,
      { Action: "AssumeRole", RoleArn: ROLE_ARN, RoleSessionName: "from-get" },
      { method: "GET" },
    );
    assert.equal(status, 200);
    assert.match(body, /assumed-role\/app-role\/from-get/);
  });

  it("GetSessionToken credentials act as caller", async () => {
    const { Credentials } = await client(sts).send(
      new GetSessionTokenCommand({ DurationSeconds: 900 }),
    );
    const identity = await client(sts, keysOf(Credentials)).send(new GetCallerIdentityCommand({}));
    const lifetime = (Credentials?.Expiration?.getTime() ?? 0) - Date.now();
    assert.equal(identity.Arn, "arn:aws:iam::123456789012:user/test");
    assert.ok(lifetime > 895_000, `Lifetime ${lifetime} ms`);
    assert.ok(lifetime <= 900_000, `Lifetime ${lifetime} ms`);
  });

  it("GetSessionToken rejects session credentials", async () => {
    const assumed = keysOf((await assumeRole(sts)).Credentials);
    assert.deepEqual(await failure(client(sts, assumed).send(new GetSessionTokenCommand({}))), {
      name: "AccessDenied",
      status: 403,
      message: "Cannot call GetSessionToken with session credentials",
    });
  });

  it("GetCallerIdentity returns default identity fields", async () => {
    const identity = await client(sts).send(new GetCallerIdentityCommand({}));
    assert.deepEqual(
      {
        Arn: identity.Arn,
        Account: identity.Account,
        UserId: identity.UserId?.replace(/[A-Z2-7]{17}$/, "…"),
      },
      { Arn: "arn:aws:iam::123456789012:user/test", Account: "123456789012", UserId: "AIDA…" },
    );
  });

  it("wrong secret fails with SignatureDoesNotMatch", async () => {
    const result = await failure(assumeRole(sts, {}, { ...SOURCE, secretAccessKey: "wrong" }));
    assert.deepEqual({ name: result.name, status: result.status }, {
      name: "SignatureDoesNotMatch",
      status: 403,
    });
    assert.deepEqual(
      sts.calls.map(({ action, signatureValid, status }) => ({ action, signatureValid, status })),
      [{ action: "AssumeRole", signatureValid: false, status: 403 }],
    );
  });

  it("unknown access key fails", async () => {
    const result = await failure(
      assumeRole(sts, {}, { accessKeyId: "AKIAUNKNOWN", secretAccessKey: "x" }),
    );
    assert.deepEqual(result, {
      name: "InvalidClientTokenId",
      status: 403,
      message: "The security token included in the request is invalid.",
    });
  });

  it("temporary credentials without token fail", async () => {
    const { sessionToken: _, ...withoutToken } = keysOf((await assumeRole(sts)).Credentials);
    const result = await failure(client(sts, withoutToken).send(new GetCallerIdentityCommand({})));
    assert.equal(result.name, "InvalidClientTokenId");
  });

  it("error response has ErrorResponse shape", async () => {
    sts.deny();
    const { status, body } = await signedFetch(sts, { Action: "GetCallerIdentity" });
    assert.equal(status, 403);
    assert.match(
      body,
      /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">\s*<Error>\s*<Type>Sender<\/Type>\s*<Code>AccessDenied<\/Code>\s*<Message>[^<]+<\/Message>\s*<\/Error>\s*<RequestId>[0-9a-f-]{36}<\/RequestId>\s*<\/ErrorResponse>\s*$/,
    );
  });

  it("unknown action fails with InvalidAction", async () => {
    const { status, body } = await signedFetch(sts, { Action: "DecodeAuthorizationMessage2" });
    assert.equal(status, 400);
    assert.match(body, /<Code>InvalidAction<\/Code>/);
  });

  it("throttle() fails calls until reset()", async () => {
    sts.throttle();
    const throttled = await failure(assumeRole(sts));
    const again = await failure(assumeRole(sts));
    sts.reset();
    await assumeRole(sts);
    assert.deepEqual(throttled, { name: "Throttling", status: 400, message: "Rate exceeded" });
    assert.equal(again.name, "Throttling");
  });

  it("throttle() with times stops after them", async () => {
    sts.throttle({ times: 2 });
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      outcomes.push(await assumeRole(sts).then(() => "ok", (e) => e.name));
    }
    assert.deepEqual(outcomes, ["Throttling", "Throttling", "ok"]);
    assert.equal(sts.count("AssumeRole"), 3);
  });

  it("fail() returns 503 ServiceUnavailable by default", async () => {
    sts.fail({ times: 1 });
    assert.deepEqual(await failure(assumeRole(sts)), {
      name: "ServiceUnavailable",
      status: 503,
      message: "Service Unavailable",
    });
  });

  it("fail() with status 500 returns InternalFailure", async () => {
    sts.fail({ status: 500 });
    const result = await failure(client(sts).send(new GetCallerIdentityCommand({})));
    assert.deepEqual({ name: result.name, status: result.status }, {
      name: "InternalFailure",
      status: 500,
    });
  });

  it("fail() with action affects only that action", async () => {
    sts.fail({ action: "AssumeRole" });
    const identity = await client(sts).send(new GetCallerIdentityCommand({}));
    const assumed = await failure(assumeRole(sts));
    assert.equal(identity.Account, "123456789012");
    assert.equal(assumed.name, "ServiceUnavailable");
  });

  it("deny() returns detailed AccessDenied", async () => {
    sts.deny({ times: 1 });
    const denied = await failure(assumeRole(sts));
    await assumeRole(sts);
    assert.deepEqual(denied, {
      name: "AccessDenied",
      status: 403,
      message:
        `User: arn:aws:iam::123456789012:user/test is not authorized to perform: sts:AssumeRole on resource: ${ROLE_ARN}`,
    });
  });

  it("deny() with code fails with that code", async () => {
    sts.deny({ code: "RegionDisabledException" });
    assert.equal((await failure(assumeRole(sts))).name, "RegionDisabledException");
  });

  it("stall() records call, then delays response", async () => {
    sts.stall(400, { times: 1 });
    const started = Date.now();
    const pending = assumeRole(sts);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const seenWhileWaiting = sts.calls.map(({ action, status }) => ({ action, status }));
    await pending;
    const stalled = Date.now() - started;
    const quickStart = Date.now();
    await assumeRole(sts);
    assert.deepEqual(seenWhileWaiting, [{ action: "AssumeRole", status: 0 }]);
    assert.ok(stalled >= 390, `Stalled only ${stalled} ms`);
    assert.ok(Date.now() - quickStart < 300, "The second call should not be stalled");
  });

  it("setDurationOverride() overrides requested lifetime", async () => {
    sts.setDurationOverride(120);
    const { Credentials } = await assumeRole(sts, { DurationSeconds: 3600 });
    const lifetime = (Credentials?.Expiration?.getTime() ?? 0) - Date.now();
    assert.ok(lifetime > 115_000, `Lifetime ${lifetime} ms`);
    assert.ok(lifetime <= 120_000, `Lifetime ${lifetime} ms`);
  });

  it("expired credentials fail with ExpiredToken", async () => {
    sts.setDurationOverride(0);
    const expired = keysOf((await assumeRole(sts)).Credentials);
    const result = await failure(client(sts, expired).send(new GetCallerIdentityCommand({})));
    assert.deepEqual({ name: result.name, status: result.status }, {
      name: "ExpiredToken",
      status: 400,
    });
  });

  it("setClockOffset() forward expires signatures", async () => {
    sts.setClockOffset(600);
    const result = await failure(assumeRole(sts));
    assert.deepEqual({ name: result.name, status: result.status }, {
      name: "SignatureDoesNotMatch",
      status: 403,
    });
    assert.match(
      result.message,
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z/,
    );
  });

  it("setClockOffset() backward makes signatures early", async () => {
    sts.setClockOffset(-600);
    const result = await failure(assumeRole(sts));
    assert.match(
      `${result.name}: ${result.message}`,
      /^SignatureDoesNotMatch: Signature not yet current/,
    );
  });

  it("setClockOffset() under 5 minutes shifts Expiration", async () => {
    sts.setClockOffset(240);
    const { Credentials } = await assumeRole(sts, { DurationSeconds: 900 });
    const lifetime = (Credentials?.Expiration?.getTime() ?? 0) - Date.now();
    assert.ok(lifetime > 1135_000, `Lifetime ${lifetime} ms`);
    assert.ok(lifetime <= 1140_000, `Lifetime ${lifetime} ms`);
  });

  it("setClockOffset() lets retrying SDK correct clock", async () => {
    sts.setClockOffset(3600);
    const retrying = new STSClient({
      endpoint: sts.url,
      region: "us-east-1",
      credentials: SOURCE,
      maxAttempts: 2,
    });
    const identity = await retrying.send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Account, "123456789012");
    assert.deepEqual(sts.calls.map((call) => call.status), [403, 200]);
  });

  it("count() counts all or per action", async () => {
    await assumeRole(sts);
    await client(sts).send(new GetCallerIdentityCommand({}));
    await failure(assumeRole(sts, {}, { ...SOURCE, secretAccessKey: "wrong" }));
    assert.equal(sts.count(), 3);
    assert.equal(sts.count("AssumeRole"), 2);
    assert.equal(sts.count("GetCallerIdentity"), 1);
  });

  it("clearCalls() forgets calls and keeps identities", async () => {
    await assumeRole(sts);
    sts.clearCalls();
    await client(sts).send(new GetCallerIdentityCommand({}));
    assert.deepEqual(sts.calls.map((call) => call.action), ["GetCallerIdentity"]);
  });
});

describe("FakeSts.stop()", () => {
  it("stop() cuts off stalled calls", async () => {
    const sts = await FakeSts.start();
    sts.addIdentity(SOURCE);
    const sts2 = client(sts);
    await sts2.send(new GetCallerIdentityCommand({}));
    sts.stall(30_000);
    const pending = failure(sts2.send(new GetCallerIdentityCommand({})));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = await Promise.race([
      sts.stop().then(() => "stopped"),
      new Promise((resolve) => setTimeout(resolve, 2000, "still waiting after 2 s")),
    ]);
    const result = await pending;
    assert.equal(stopped, "stopped");
    assert.equal(
      result.status,
      undefined,
      `Expected a connection error, got ${JSON.stringify(result)}`,
    );
  });

  it("start() rejects non-loopback hostname", async () => {
    await assert.rejects(FakeSts.start({ hostname: "0.0.0.0" }), RangeError);
  });
});

describe("FakeSts with other SDKs", () => {
  // CI installs both clients, so in CI a missing one fails the test instead of skipping it.
  const inCi = process.env.CI === "true";
  const noCli = !inCi && !existsSync("/usr/bin/aws") && "AWS CLI v2 is not installed at /usr/bin/aws";
  const noBotocore = !inCi && spawnSync("/usr/bin/python3", ["-c", "import botocore"]).status !== 0 &&
    "/usr/bin/python3 cannot import botocore";
  let sts: FakeSts;

  before(async () => {
    sts = await FakeSts.start();
    sts.addIdentity(SOURCE);
  });

  after(async () => {
    await sts.stop();
  });

  it("AWS CLI v2 assumes role, reads identity", { skip: noCli }, async () => {
    const aws = async (args: string[], keys: Keys) =>
      JSON.parse(
        await run("/usr/bin/aws", ["sts", ...args, "--endpoint-url", sts.url, "--output", "json"], {
          ...cleanEnv(),
          AWS_ACCESS_KEY_ID: keys.accessKeyId,
          AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
          ...(keys.sessionToken ? { AWS_SESSION_TOKEN: keys.sessionToken } : {}),
        }),
      );
    const assumed = await aws(
      ["assume-role", "--role-arn", ROLE_ARN, "--role-session-name", "cli"],
      SOURCE,
    );
    const identity = await aws(["get-caller-identity"], keysOf(assumed.Credentials));
    assert.equal(identity.Arn, "arn:aws:sts::210987654321:assumed-role/app-role/cli");
  });

  it("botocore assumes role, reads identity", { skip: noBotocore }, async () => {
    const script = `
import json, sys, botocore.session
s = botocore.session.get_session()
def sts(**keys):
    return s.create_client("sts", region_name="eu-west-1", endpoint_url=sys.argv[1], **keys)
c = sts(aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3]).assume_role(RoleArn=sys.argv[4], RoleSessionName="py")["Credentials"]
print(json.dumps(sts(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"]).get_caller_identity()["Arn"]))
`;
    const output = await run(
      "/usr/bin/python3",
      ["-c", script, sts.url, SOURCE.accessKeyId, SOURCE.secretAccessKey, ROLE_ARN],
      cleanEnv(),
    );
    assert.equal(JSON.parse(output), "arn:aws:sts::210987654321:assumed-role/app-role/py");
  });
});

function cleanEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_REGION: "us-east-1",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
  };
}

function run(command: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args[0]} failed: ${stderr}`, { cause: error }));
      else resolve(stdout);
    });
  });
}
