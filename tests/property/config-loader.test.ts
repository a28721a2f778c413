import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { ConfigError } from "../../src/config/errors.ts";
import { parseConfigText } from "../../src/config/load.ts";

// Planted in documents; none may appear in an error message or a warning.
const SECRETS = {
  token: "PLANTEDtokenVALUE-7f3a9c2e41",
  secretKey: "PLANTEDsecretKEY/9f8e7d6c5b4a39281706",
  sessionToken: "PLANTEDsessionTOKEN+aa11bb22cc33",
  externalId: "PLANTEDexternalID-5566778899",
};
const SECRET_VALUES = Object.values(SECRETS);
const RUNS = 150;

/** Field values: the planted secrets, plausible values and noise of every JSON type. */
const value = fc.oneof(
  fc.constantFrom(...SECRET_VALUES),
  fc.constantFrom("arn:aws:iam::123456789012:role/x", "us-east-1", "123456", "", "${fromEnv:NOPE}", "${fromFile:/nonexistent}", "local"),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);

/** A tree of values under the keys CredProxy knows, at any depth, with unknown keys mixed in. */
const KEYS = [
  "services", "server", "credentials", "aws_defaults", "dynamic_services", "metrics", "metadata", "web", "api",
  "auth_token", "source_credentials", "assumed_role", "iam_keys", "iam_profile", "local", "aws_access_key_id",
  "aws_secret_access_key", "session_token", "RoleArn", "ExternalId", "DurationSeconds", "SerialNumber", "TokenCode",
  "RoleSessionName", "host", "port", "x-note", "unknown",
];
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, value, tie("object"), fc.array(tie("tree"), { maxLength: 3 })),
  object: fc.dictionary(fc.constantFrom(...KEYS), tie("tree"), { maxKeys: 6 }),
}));

/** A document shaped like a real config, so that validation gets deep before it fails. */
const plausible = fc.record({
  services: fc.dictionary(
    fc.constantFrom("web", "api", "bad name", "x".repeat(70)),
    fc.record({
      auth_token: fc.constantFrom(SECRETS.token, `${SECRETS.token} with space`, "short"),
      source_credentials: fc.option(
        fc.record({
          iam_keys: fc.record({
            aws_access_key_id: fc.constantFrom("AKIAEXAMPLEEXAMPLE01", "bad"),
            aws_secret_access_key: fc.constantFrom(SECRETS.secretKey, 42),
            session_token: fc.option(fc.constant(SECRETS.sessionToken), { nil: undefined }),
          }, { requiredKeys: [] }),
        }),
        { nil: undefined },
      ),
      assumed_role: fc.option(
        fc.record({
          RoleArn: fc.constantFrom("arn:aws:iam::123456789012:role/app", SECRETS.externalId),
          ExternalId: fc.constantFrom(SECRETS.externalId, `${SECRETS.externalId} !`, 7),
          DurationSeconds: fc.integer({ min: -10, max: 50_000 }),
          SerialNumber: fc.option(fc.constant("arn:aws:iam::123456789012:mfa/me"), { nil: undefined }),
          TokenCode: fc.option(fc.constantFrom("123456", SECRETS.token), { nil: undefined }),
        }, { requiredKeys: ["RoleArn"] }),
        { nil: undefined },
      ),
    }, { requiredKeys: ["auth_token"] }),
    { maxKeys: 3 },
  ),
  credentials: fc.option(fc.record({ token_overlap_seconds: fc.oneof(fc.integer(), fc.constant(SECRETS.token)) }), { nil: undefined }),
}, { requiredKeys: ["services"] });

/** Loads `text`; returns the texts that may reach a user (message, warnings), or fails on any other exception. */
function userVisibleText(text: string, source: string): string {
  try {
    const { warnings } = parseConfigText(text, source, { env: {}, readFile: () => SECRETS.secretKey });
    return warnings.join("\n");
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return `${error.message}\n${error.problems.map((problem) => `${problem.path} ${problem.message}`).join("\n")}`;
  }
}

function assertNoSecret(text: string, document: unknown): void {
  for (const secret of SECRET_VALUES) {
    assert.ok(!text.includes(secret), `secret ${secret.slice(0, 7)}… echoed for ${JSON.stringify(document).slice(0, 300)}`);
  }
}

test("parseConfigText() never echoes a planted secret from YAML", () => {
  fc.assert(
    fc.property(fc.oneof(plausible, tree), (document) => {
      assertNoSecret(userVisibleText(stringify(document), "property.yaml"), document);
    }),
    { numRuns: RUNS },
  );
});

test("parseConfigText() never echoes a planted secret from JSON", () => {
  fc.assert(
    fc.property(fc.oneof(plausible, tree), (document) => {
      assertNoSecret(userVisibleText(JSON.stringify(document), "property.json"), document);
    }),
    { numRuns: RUNS },
  );
});

test("parseConfigText() throws only ConfigError on arbitrary text", () => {
  const secretLine = fc.constantFrom(...SECRET_VALUES).map((secret) => `auth_token: "${secret}`);
  const text = fc.array(fc.oneof(fc.string(), secretLine, fc.constantFrom("services:", "  web:", "- [", "{", "&a", "*a", "\t", "---")), { maxLength: 8 })
    .map((lines) => lines.join("\n"));
  fc.assert(
    fc.property(text, fc.constantFrom("property.yaml", "property.json"), (source, name) => {
      assertNoSecret(userVisibleText(source, name), source);
    }),
    { numRuns: RUNS },
  );
});
