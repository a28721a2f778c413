/**
 * examples/kubernetes: the pod's CredProxy native sidecar and its ConfigMap, checked with
 * CredProxy's own config loader and command-line parser, and against each other (config
 * mount, Secret keys, token file, URL and ports).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { EXAMPLES, parseCredProxyArgs, readYaml, secretValues, validateWithSecrets, withoutBinary } from "./example-files.ts";

const NONROOT_ID = 65532;

function pod(): any {
  return readYaml("kubernetes/pod.yaml");
}

function credproxyContainer(): any {
  return pod().spec.initContainers.find((container: any) => container.name === "credproxy");
}

function appContainer(): any {
  return pod().spec.containers.find((container: any) => container.name === "app");
}

function volume(name: string): any {
  const found = pod().spec.volumes.find((entry: any) => entry.name === name);
  assert.ok(found, `pod has no volume ${name}`);
  return found;
}

/** Reads the config document that the credproxy container finds at its --config path. */
function mountedConfig(): { containerPath: string; document: any } {
  const command = parseCredProxyArgs(credproxyContainer().args);
  assert.equal(command.kind, "serve");
  const containerPath = (command as { common: { configPath?: string } }).common.configPath!;
  const mount = credproxyContainer().volumeMounts.find((entry: any) => containerPath.startsWith(`${entry.mountPath}/`));
  assert.ok(mount, `no volume mounted over ${containerPath}`);
  const configMapName = volume(mount.name).configMap?.name;
  const configMap = readYaml("kubernetes/credproxy-config.yaml");
  assert.deepEqual({ kind: configMap.kind, name: configMap.metadata.name }, { kind: "ConfigMap", name: configMapName });
  const key = containerPath.slice(mount.mountPath.length + 1);
  assert.ok(key in configMap.data, `ConfigMap ${configMapName} has no key ${key}`);
  return { containerPath, document: parse(configMap.data[key]) };
}

/** Secret directories of a container: mount path to the Secret keys visible there. */
function secretMounts(container: any, keys: string[]): Map<string, string[]> {
  const mounts = new Map<string, string[]>();
  for (const mount of container.volumeMounts) {
    const secret = volume(mount.name).secret;
    if (!secret) continue;
    const visible = secret.items ? secret.items.map((item: any) => item.path) : keys;
    mounts.set(mount.mountPath, visible);
  }
  return mounts;
}

/** Keys of the Secret, from the `kubectl create secret` command that the ConfigMap's comment gives. */
function secretKeys(): string[] {
  const text = readFileSync(join(EXAMPLES, "kubernetes", "credproxy-config.yaml"), "utf8");
  return [...text.matchAll(/--from-(?:file|literal)=([\w.-]+)=/g)].map((match) => match[1]);
}

test("kubernetes Secret command creates the keys the config reads", () => {
  assert.deepEqual(secretKeys(), ["app-token", "aws-access-key-id", "aws-secret-access-key"]);
});

test("kubernetes credproxy is a native sidecar", () => {
  assert.equal(credproxyContainer().restartPolicy, "Always");
});

test("kubernetes config is valid with the mounted Secret", () => {
  const { containerPath, document } = mountedConfig();

  const { config } = validateWithSecrets(document, containerPath, secretMounts(credproxyContainer(), secretKeys()));

  assert.deepEqual(Object.keys(config.services), ["app"]);
});

test("kubernetes config takes every secret from a file", () => {
  const { document } = mountedConfig();
  const secrets = secretValues(document);

  assert.ok(secrets.length >= 3, "expected a token and two keys");
  for (const value of secrets) assert.match(value, /^\$\{fromFile:\/run\/secrets\/[\w./-]+\}$/);
});

test("kubernetes app reads the token file the config reads", () => {
  const { document } = mountedConfig();
  const tokenFile = appContainer().env.find((entry: any) => entry.name === "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").value;
  const appMount = appContainer().volumeMounts.find((entry: any) => tokenFile.startsWith(`${entry.mountPath}/`));
  const appSecret = volume(appMount.name).secret;
  const item = appSecret.items.find((entry: any) => `${appMount.mountPath}/${entry.path}` === tokenFile);

  const configTokenFile = /^\$\{fromFile:(.*)\}$/.exec(document.services.app.auth_token)![1];
  const credproxyMount = credproxyContainer().volumeMounts.find((entry: any) => configTokenFile.startsWith(`${entry.mountPath}/`));
  const credproxySecret = volume(credproxyMount.name).secret;

  assert.equal(appSecret.secretName, credproxySecret.secretName);
  assert.equal(configTokenFile.slice(credproxyMount.mountPath.length + 1), item.key);
});

test("kubernetes app sees only its token", () => {
  const mounts = secretMounts(appContainer(), secretKeys());

  assert.deepEqual([...mounts.values()].flat(), ["app-token"]);
});

test("kubernetes app URL is the configured API address", () => {
  const { document } = mountedConfig();
  const url = appContainer().env.find((entry: any) => entry.name === "AWS_CONTAINER_CREDENTIALS_FULL_URI").value;

  assert.equal(url, `http://${document.server.host}:${document.server.port}/v1/credentials`);
});

test("kubernetes probes run credproxy healthcheck on the API address", () => {
  const { document } = mountedConfig();

  for (const probe of ["startupProbe", "livenessProbe"]) {
    const command = parseCredProxyArgs(withoutBinary(credproxyContainer()[probe].exec.command));
    assert.deepEqual(command, { kind: "healthcheck", url: `http://${document.server.host}:${document.server.port}/health`, timeoutMs: 3000 });
  }
});

test("kubernetes credproxy runs as the image's nonroot user", () => {
  const context = credproxyContainer().securityContext;

  assert.deepEqual(
    { user: context.runAsUser, nonRoot: context.runAsNonRoot, readOnly: context.readOnlyRootFilesystem, drop: context.capabilities.drop },
    { user: NONROOT_ID, nonRoot: true, readOnly: true, drop: ["ALL"] },
  );
  assert.equal(pod().spec.securityContext.fsGroup, NONROOT_ID);
});
