/**
 * The Dockerfile's claims that the chroot tests rely on: the base image, the users, the
 * paths they lay out, and commands that CredProxy's parser accepts. No container engine
 * runs here, so the file is read as text.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseCommandLine } from "../../src/cli/parse.ts";
import { parseSidecarArgs } from "../../src/cli/sidecar.ts";
import { ROOT } from "../support/credproxy-process.ts";
import { IMAGE_PATHS, NONROOT_ID } from "./image-root.ts";

interface Stage {
  from: string;
  name?: string;
  instructions: { keyword: string; value: string }[];
}

/** Splits the Dockerfile into stages of instructions, joining continued lines. */
function readStages(): { args: Record<string, string>; stages: Stage[] } {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of text.split("\n").map((item) => item.trim())) {
    if (line === "" || line.startsWith("#")) continue;
    const [, keyword, value] = /^(\S+)\s+(.*)$/.exec(line)!;
    if (keyword === "FROM") {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(value)!;
      stages.push({ from, name, instructions: [] });
    } else if (stages.length === 0 && keyword === "ARG") {
      const [name, defaultValue = ""] = value.split("=");
      args[name] = defaultValue;
    } else {
      stages.at(-1)!.instructions.push({ keyword, value });
    }
  }
  return { args, stages };
}

function stage(name: string): Stage {
  const found = readStages().stages.find((item) => item.name === name);
  assert.ok(found, `Dockerfile has no stage ${name}`);
  return found;
}

function instruction(from: Stage, keyword: string): string[] {
  return from.instructions.filter((item) => item.keyword === keyword).map((item) => item.value);
}

/** Returns the exec-form argv of a stage's HEALTHCHECK CMD. */
function healthcheckArgv(from: Stage): string[] {
  const [value] = instruction(from, "HEALTHCHECK");
  return JSON.parse(value.slice(value.indexOf("CMD") + 3).trim());
}

test("Dockerfile builds on distroless base-debian12", () => {
  const { args, stages } = readStages();

  assert.match(args.DISTROLESS, /^gcr\.io\/distroless\/base-debian12:nonroot(@sha256:[0-9a-f]{64})?$/);
  for (const name of ["serve", "sidecar"]) assert.equal(stages.find((item) => item.name === name)?.from, "${DISTROLESS}");
});

test("Dockerfile's default target is serve", () => {
  assert.equal(readStages().stages.at(-1)?.name, "serve");
});

test("Dockerfile serve runs as nonroot", () => {
  assert.deepEqual(instruction(stage("serve"), "USER"), [`${NONROOT_ID}:${NONROOT_ID}`]);
});

test("Dockerfile sidecar runs as root", () => {
  assert.deepEqual(instruction(stage("sidecar"), "USER"), ["0:0"]);
});

test("Dockerfile places files where the chroot tests do", () => {
  assert.deepEqual(instruction(stage("serve"), "COPY"), [`--from=build /credproxy ${IMAGE_PATHS.binary}`]);
  assert.deepEqual(instruction(stage("sidecar"), "COPY"), [
    `--from=build /credproxy ${IMAGE_PATHS.binary}`,
    `--from=busybox /bin/busybox ${IMAGE_PATHS.ip}`,
  ]);
});

test("Dockerfile serve command parses as serve", () => {
  const serve = stage("serve");
  const [entrypoint] = instruction(serve, "ENTRYPOINT").map((value) => JSON.parse(value));
  const [command] = instruction(serve, "CMD").map((value) => JSON.parse(value));

  assert.deepEqual(entrypoint, [IMAGE_PATHS.binary]);
  const parsed = parseCommandLine(command, {});
  assert.equal(parsed.kind, "serve");
  assert.equal((parsed as { common: { configPath?: string } }).common.configPath, IMAGE_PATHS.config);
});

test("Dockerfile sidecar command parses as sidecar", () => {
  const [command] = instruction(stage("sidecar"), "CMD").map((value) => JSON.parse(value));
  const parsed = parseCommandLine(command, {});

  assert.equal(parsed.kind, "sidecar");
  assert.equal(parseSidecarArgs((parsed as { args: string[] }).args, {}).upstreamUrl, "http://127.0.0.1:1338/");
});

test("Dockerfile healthchecks run credproxy healthcheck", () => {
  for (const name of ["serve", "sidecar"]) {
    const [binary, ...args] = healthcheckArgv(stage(name));

    assert.equal(binary, IMAGE_PATHS.binary);
    assert.equal(parseCommandLine(args, {}).kind, "healthcheck");
  }
});

test("Dockerfile images carry OCI labels", () => {
  for (const name of ["serve", "sidecar"]) {
    const labels = instruction(stage(name), "LABEL").join(" ");

    for (const key of ["title", "description", "licenses", "revision"]) {
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`));
    }
  }
});
