/**
 * CredProxy as a library in a Bun (or Deno) script: load a config file, start serving,
 * fetch one service's credentials the way an SDK does, and stop.
 *
 *   bun examples/bun-script/serve.ts [CONFIG]
 *
 * CONFIG defaults to the quick-start config, whose services mint credentials locally.
 */

import process from "node:process";
import { loadConfigFile, startCredProxy } from "../../mod.ts";

const configPath = process.argv[2] ?? new URL("../quickstart/credproxy.yaml", import.meta.url).pathname;

// CREDPROXY_PORT=0 overrides server.port, so the example never collides with a running CredProxy.
const { config } = loadConfigFile(configPath, { env: { ...process.env, CREDPROXY_PORT: "0" } });
const proxy = await startCredProxy({ config });
console.log(`Serving ${Object.keys(config.services).length} services at ${proxy.url}`);

try {
  const [name, service] = Object.entries(config.services)[0];
  const response = await fetch(`${proxy.url}/v1/credentials`, { headers: { authorization: service.auth_token } });
  const credentials = await response.json();
  console.log(`Service ${name}: HTTP ${response.status}, access key ${credentials.AccessKeyId}, expires ${credentials.Expiration}`);
} finally {
  await proxy.close();
}
