/**
 * Real AWS clients get credentials from a running CredProxy through the container
 * credential variables, then make an STS call that the fake STS verifies against the
 * credentials CredProxy served.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type ClientResult, runAwsCli, runBotocore, runJsClient } from "../support/clients.ts";
import { launchTargets } from "../support/credproxy-process.ts";
import { type Stack, startStack, WEB_ROLE_ARN, WEB_TOKEN } from "../support/stack.ts";

const ASSUMED_ARN = /^arn:aws:sts::111122223333:assumed-role\/web-app\/credproxy-web$/;

/** Checks that the client used the served credentials and that the fake STS verified them. */
async function assertSignedWithServed(stack: Stack, result: ClientResult): Promise<void> {
  assert.equal(result.code, 0, `client failed: ${result.stdout}\n${result.stderr}`);
  const served = await stack.proxy.request("/v1/credentials", WEB_TOKEN);
  assert.equal(served.status, 200);
  assert.match(result.json?.arn ?? "", ASSUMED_ARN);
  const call = stack.sts.calls.findLast((item) => item.action === "GetCallerIdentity");
  assert.ok(call, "the client made no STS call");
  assert.equal(call.accessKeyId, served.body.AccessKeyId);
  assert.equal(call.signatureValid, true);
  assert.equal(call.status, 200);
}

function fullUri(stack: Stack, host = "127.0.0.1"): string {
  const url = new URL("/v1/credentials", stack.proxy.url);
  url.hostname = host;
  return url.href;
}

for (const target of launchTargets()) {
  test(`JS fromHttp reads the token variable (${target.name})`, async () => {
    const stack = await startStack({ target });
    try {
      const result = await runJsClient("fromHttp", stack.sts.url, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: fullUri(stack),
        AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN,
      });
      await assertSignedWithServed(stack, result);
    } finally {
      assert.equal(await stack.close(), 0);
    }
  });

  test(`JS fromHttp reads a token file (${target.name})`, async () => {
    const stack = await startStack({ target });
    try {
      const result = await runJsClient("fromHttp", stack.sts.url, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: fullUri(stack),
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: stack.writeTokenFile(),
      });
      await assertSignedWithServed(stack, result);
    } finally {
      await stack.close();
    }
  });

  test(`JS fromContainerMetadata on localhost (${target.name})`, async () => {
    const stack = await startStack({ target });
    try {
      const result = await runJsClient("fromContainerMetadata", stack.sts.url, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: fullUri(stack, "localhost"),
        AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN,
      });
      await assertSignedWithServed(stack, result);
    } finally {
      await stack.close();
    }
  });

  test(`JS default chain with a token file (${target.name})`, async () => {
    const stack = await startStack({ target });
    try {
      const result = await runJsClient("defaultChain", stack.sts.url, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: fullUri(stack),
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: stack.writeTokenFile(),
      });
      await assertSignedWithServed(stack, result);
      assert.ok(result.json?.expiration, "the SDK parsed no expiry");
    } finally {
      await stack.close();
    }
  });

  test(`botocore container provider (${target.name})`, async () => {
    const stack = await startStack({ target });
    try {
      const result = await runBotocore(stack.sts.url, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: fullUri(stack),
        AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN,
      });
      await assertSignedWithServed(stack, result);
      assert.equal(result.json?.method, "container-role");
    } finally {
      await stack.close();
    }
  });

  test(`AWS CLI v2 get-caller-identity (${target.name})`, async () => {
    const stack = await startStack({ target });
    try {
      const result = await runAwsCli(stack.sts.url, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: fullUri(stack),
        AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN,
      });
      await assertSignedWithServed(stack, result);
      assert.match(result.json?.arn ?? "", new RegExp(WEB_ROLE_ARN.split("/")[1]));
    } finally {
      await stack.close();
    }
  });

  test(`client ignoring the token file gets a clear 401 (${target.name})`, async () => {
    // botocore 1.29 (Debian 12's AWS CLI) reads only AWS_CONTAINER_AUTHORIZATION_TOKEN.
    const stack = await startStack({ target });
    try {
      const result = await runBotocore(stack.sts.url, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: fullUri(stack),
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: stack.writeTokenFile(),
      });
      const requests = stack.proxy.logRecords().filter((record) => record.logger === "credproxy.http");
      const credentialRequests = requests.filter((record) => record.path === "/v1/credentials");
      if (result.code === 0) {
        // A botocore new enough to read the file must have been served with the token.
        assert.ok(credentialRequests.every((record) => record.status === 200));
        return;
      }
      assert.ok(credentialRequests.length > 0, "botocore never called CredProxy");
      assert.ok(credentialRequests.every((record) => record.status === 401 && record.reason === "missing token"));
      assert.equal(stack.sts.count("GetCallerIdentity"), 0);
      const direct = await stack.proxy.request("/v1/credentials");
      assert.match(direct.body.Message, /set AWS_CONTAINER_AUTHORIZATION_TOKEN/);
    } finally {
      await stack.close();
    }
  });
}
