import assert from "node:assert/strict";
import { test } from "node:test";
import { globToRegExp, isServiceFileName } from "../../src/services/dynamic/file-filter.ts";

const DEFAULTS = { include: ["*.yaml", "*.yml", "*.json"], exclude: [] };

test("isServiceFileName() accepts names matching the include patterns", () => {
  assert.deepEqual(["a.yaml", "b.yml", "c.json", "d.txt", "yaml"].map((name) => isServiceFileName(name, DEFAULTS)), [true, true, true, false, false]);
});

test("isServiceFileName() skips dot entries such as ConfigMap ..data", () => {
  const all = { include: ["*"], exclude: [] };
  assert.deepEqual(["..data", "..2026_01_01_00_00_00.1", ".hidden.yaml", ".#a.yaml"].map((name) => isServiceFileName(name, all)), [false, false, false, false]);
});

test("isServiceFileName() skips editor leftovers whatever is included", () => {
  const all = { include: ["*"], exclude: [] };
  const names = ["4913", "a.yaml~", "a.yaml.swp", "a.yaml.swo", "#a.yaml#", "a.yaml.tmp", "a.yaml.bak", "a.yaml.dpkg-new"];
  assert.deepEqual(names.map((name) => isServiceFileName(name, all)), names.map(() => false));
});

test("isServiceFileName() applies exclude patterns after includes", () => {
  const patterns = { include: ["*.yaml"], exclude: ["draft-*", "*.local.yaml"] };
  assert.deepEqual(["app.yaml", "draft-app.yaml", "app.local.yaml"].map((name) => isServiceFileName(name, patterns)), [true, false, false]);
});

test("globToRegExp() supports ?, sets and alternatives", () => {
  assert.equal(globToRegExp("team-?.yaml").test("team-a.yaml"), true);
  assert.equal(globToRegExp("team-?.yaml").test("team-ab.yaml"), false);
  assert.equal(globToRegExp("[ab]*.yaml").test("b1.yaml"), true);
  assert.equal(globToRegExp("[!ab]*.yaml").test("b1.yaml"), false);
  assert.equal(globToRegExp("*.{yaml,yml}").test("x.yml"), true);
  assert.equal(globToRegExp("*.{yaml,yml}").test("x.json"), false);
  assert.equal(globToRegExp("a+b(1).yaml").test("a+b(1).yaml"), true);
});

test("globToRegExp() rejects an unclosed alternative", () => {
  assert.throws(() => globToRegExp("*.{yaml"), { name: "SyntaxError", message: 'Invalid glob "*.{yaml": a "{" has no closing "}"' });
});
