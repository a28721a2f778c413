/**
 * examples/compose: the values compose.yaml and credproxy.yaml pass to CredProxy, checked
 * with CredProxy's own config loader and command-line parsers, and checked against each
 * other (token files, addresses, ports).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  EXAMPLES,
  fromFilePaths,
  parseCredProxyArgs,
  parseSidecarCommand,
  readYaml,
  secretValues,
  validateWithSecrets,
  withoutBinary,
} from "./example-files.ts";

const SECRETS_DIRECTORY = "/run/secrets";

function compose(): any {
  return readYaml("compose/compose.yaml");
}

/** Reads the host file that compose.yaml mounts at CredProxy's --config path. */
function mountedConfig(): { containerPath: string; document: any } {
  const service = compose().services.credproxy;
  const command = parseCredProxyArgs(service.command);
  assert.equal(command.kind, "serve");
  const containerPath = (command as { common: { configPath?: string } }).common.configPath;
  const volume = (service.volumes as string[]).find((entry) => entry.split(":")[1] === containerPath);
  assert.ok(volume, `no volume mounts ${containerPath}`);
  const hostPath = join(EXAMPLES, "compose", volume.split(":")[0]);
  return { containerPath: containerPath!, document: parse(readFileSync(hostPath, "utf8")) };
}

function mountedSecrets(serviceName: string): Map<string, string[]> {
  return new Map([[SECRETS_DIRECTORY, compose().services[serviceName].secrets ?? []]]);
}

test("compose config is valid with credproxy's secrets", () => {
  const { containerPath, document } = mountedConfig();

  const { config } = validateWithSecrets(document, containerPath, mountedSecrets("credproxy"));

  assert.deepEqual(Object.keys(config.services), ["app"]);
});

test("compose config takes every secret from a file", () => {
  const { document } = mountedConfig();
  const secrets = secretValues(document);

  assert.ok(secrets.length >= 3, "expected a token and two keys");
  for (const value of secrets) assert.match(value, /^\$\{fromFile:\/run\/secrets\/[\w.-]+\}$/);
});

test("compose secrets come from files under secrets/", () => {
  for (const [name, secret] of Object.entries<any>(compose().secrets)) {
    assert.deepEqual(secret, { file: `./secrets/${name}` });
  }
});

test("compose app reads the token file the config reads", () => {
  const { document } = mountedConfig();
  const app = compose().services.app;
  const tokenFile: string = app.environment.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
  const secretName = tokenFile.slice(`${SECRETS_DIRECTORY}/`.length);

  assert.equal(tokenFile, `${SECRETS_DIRECTORY}/${secretName}`);
  assert.ok(app.secrets.includes(secretName), `app does not mount the secret ${secretName}`);
  assert.ok(compose().services.credproxy.secrets.includes(secretName), `credproxy does not mount the secret ${secretName}`);
  assert.equal(document.services.app.auth_token, `\${fromFile:${tokenFile}}`);
});

test("compose app gets no AWS key secrets", () => {
  const { document } = mountedConfig();
  const tokenFile = compose().services.app.environment.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
  const keyFiles = fromFilePaths(document).filter((path) => path !== tokenFile);

  for (const path of keyFiles) {
    assert.ok(!compose().services.app.secrets.includes(path.slice(`${SECRETS_DIRECTORY}/`.length)), `app mounts ${path}`);
  }
});

test("compose app URL is a sidecar listen address", () => {
  const url = new URL(compose().services.app.environment.AWS_CONTAINER_CREDENTIALS_FULL_URI);
  const sidecar = parseSidecarCommand(compose().services.sidecar.command);

  assert.equal(url.pathname, "/v1/credentials");
  const listening = sidecar.listen.map((address) => `${address.host}:${address.port}`);
  assert.ok(listening.includes(`${url.hostname}:${url.port || "80"}`), `sidecar listens on ${listening.join(", ")}`);
});

test("compose sidecar forwards to the configured API address", () => {
  const { document } = mountedConfig();
  const sidecar = parseSidecarCommand(compose().services.sidecar.command);

  assert.equal(sidecar.upstreamUrl, `http://${document.server.host}:${document.server.port}/`);
});

test("compose healthchecks probe the configured addresses", () => {
  const { document } = mountedConfig();
  const services = compose().services;
  const sidecar = parseSidecarCommand(services.sidecar.command);

  const credproxyProbe = parseCredProxyArgs(withoutBinary(services.credproxy.healthcheck.test.slice(1)));
  assert.deepEqual(credproxyProbe, { kind: "healthcheck", url: `http://${document.server.host}:${document.server.port}/health`, timeoutMs: 3000 });

  const sidecarProbe = parseCredProxyArgs(withoutBinary(services.sidecar.healthcheck.test.slice(1)));
  assert.equal(sidecarProbe.kind, "healthcheck");
  const probed = new URL((sidecarProbe as { url: string }).url);
  assert.ok(sidecar.listen.some((address) => address.host === probed.hostname && address.port === Number(probed.port || 80)));
});

test("compose app and sidecar share credproxy's network namespace", () => {
  const { app, sidecar } = compose().services;

  assert.equal(app.network_mode, "service:credproxy");
  assert.equal(sidecar.network_mode, "service:credproxy");
});

test("compose app starts once both CredProxy containers are healthy", () => {
  const { app, sidecar } = compose().services;

  assert.deepEqual(app.depends_on, { credproxy: { condition: "service_healthy" }, sidecar: { condition: "service_healthy" } });
  assert.deepEqual(sidecar.depends_on, { credproxy: { condition: "service_healthy" } });
});

test("compose sidecar runs as root with NET_ADMIN", () => {
  const { sidecar, credproxy } = compose().services;

  assert.equal(sidecar.user, "0:0");
  assert.deepEqual(sidecar.cap_drop, ["ALL"]);
  assert.ok(sidecar.cap_add.includes("NET_ADMIN"));
  assert.equal(credproxy.cap_add, undefined);
});
