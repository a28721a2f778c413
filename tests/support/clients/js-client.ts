/**
 * A real AWS SDK for JavaScript v3 application, run as a child process by end-to-end tests.
 *
 * It resolves credentials the way an application in a container does (from the
 * AWS_CONTAINER_* variables in its environment), then calls STS GetCallerIdentity on the
 * endpoint given as the second argument, signed with those credentials. It prints one JSON
 * line: {"accessKeyId", "arn"} on success, {"error", "message"} on failure (exit 1).
 *
 * Usage: js-client.ts fromHttp|fromContainerMetadata|defaultChain STS_ENDPOINT
 */

import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { fromContainerMetadata, fromHttp, fromNodeProviderChain } from "@aws-sdk/credential-providers";
import process from "node:process";

const [mode, endpoint] = process.argv.slice(2);
const providers: Record<string, () => ReturnType<typeof fromHttp>> = {
  fromHttp: () => fromHttp({}),
  fromContainerMetadata: () => fromContainerMetadata({ timeout: 2000, maxRetries: 1 }),
  defaultChain: () => fromNodeProviderChain(),
};

try {
  const provider = providers[mode]?.();
  if (!provider) throw new Error(`Unknown mode "${mode}"; expected ${Object.keys(providers).join(", ")}`);
  const credentials = await provider();
  const client = new STSClient({ region: "us-east-1", endpoint, credentials, maxAttempts: 1 });
  const identity = await client.send(new GetCallerIdentityCommand({}));
  console.log(JSON.stringify({ accessKeyId: credentials.accessKeyId, arn: identity.Arn, expiration: credentials.expiration?.toISOString() }));
  process.exit(0);
} catch (error) {
  console.log(JSON.stringify({ error: (error as Error).name, message: (error as Error).message }));
  process.exit(1);
}
