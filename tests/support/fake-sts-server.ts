/**
 * The fake STS as a program, for tests that need it inside a network namespace, where a
 * server started by the test process (in the host's namespace) cannot be reached.
 *
 * It listens on 127.0.0.1 (or `--port`), accepts the identities in `FAKE_STS_IDENTITIES` (a
 * JSON array of `FakeStsIdentity`), prints `{"url": ...}` once listening, then one
 * `{"call": ...}` line per finished call, and exits 0 on SIGTERM or SIGINT.
 *
 * @example
 * ```sh
 * FAKE_STS_IDENTITIES='[{"accessKeyId":"AKIA…","secretAccessKey":"…"}]' \
 *   ip netns exec NS bun tests/support/fake-sts-server.ts --port 4566
 * ```
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { FakeSts, type FakeStsIdentity } from "./fake-sts.ts";

const { values } = parseArgs({ args: process.argv.slice(2), options: { port: { type: "string" } } });
const sts = await FakeSts.start({ port: Number(values.port ?? 0) });
for (const identity of JSON.parse(process.env.FAKE_STS_IDENTITIES ?? "[]") as FakeStsIdentity[]) {
  sts.addIdentity(identity);
}
console.log(JSON.stringify({ url: sts.url }));

// FakeSts records calls but has no event for them: report each once it has a status.
let reported = 0;
const reporter = setInterval(() => {
  while (reported < sts.calls.length && sts.calls[reported].status !== 0) {
    const { action, accessKeyId, signatureValid, status, errorCode } = sts.calls[reported++];
    console.log(JSON.stringify({ call: { action, accessKeyId, signatureValid, status, errorCode } }));
  }
}, 20);

const stop = async () => {
  clearInterval(reporter);
  await sts.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
