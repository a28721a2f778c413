/**
 * A fake AWS STS for tests: a real localhost HTTP server that speaks STS's wire protocol
 * (awsQuery requests, XML responses and errors), checks SigV4 signatures for real and
 * mints credentials that work against it again. Runs on Deno and Bun through node:http.
 *
 * @example
 * ```ts
 * const sts = await FakeSts.start();
 * sts.addIdentity({ accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret" });
 * const client = new STSClient({ endpoint: sts.url, region: "us-east-1", credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret" } });
 * await client.send(new AssumeRoleCommand({ RoleArn: "arn:aws:iam::123456789012:role/app", RoleSessionName: "test" }));
 * await sts.stop();
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  headerValues,
  parseAuthorization,
  type SigV4Authorization,
  verifySignature,
} from "./sigv4.ts";

/** Where and how the fake STS listens. */
export interface FakeStsOptions {
  /** Loopback address to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** Region recorded for calls whose signature names none. Any signed region is accepted. @default "us-east-1" */
  region?: string;
}

/** Credentials that the fake STS accepts, with the principal they belong to. */
export interface FakeStsIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  /** Set for temporary credentials: requests must then carry it as `X-Amz-Security-Token`. */
  sessionToken?: string;
  /** @default "arn:aws:iam::123456789012:user/test" */
  arn?: string;
  /** @default "123456789012" */
  account?: string;
}

/** One request the fake STS received, accepted or not. */
export interface StsCall {
  action: "AssumeRole" | "GetSessionToken" | "GetCallerIdentity" | string;
  /** From the signature's credential scope; empty when the request was not signed. */
  accessKeyId: string;
  /** Every query and form parameter, `Action` and `Version` included. */
  params: Record<string, string>;
  at: Date;
  region: string;
  signatureValid: boolean;
  /** HTTP status of the response; 0 while the call is still pending or when stop() cut it off. */
  status: number;
  /** The STS error code of the response, if it was an error. */
  errorCode?: string;
}

/** How many calls a behaviour switch affects, and of which action. */
export interface SwitchOptions {
  /** Number of calls affected, then the switch turns itself off. @default Infinity */
  times?: number;
  /** Affect only calls of this action (e.g. "AssumeRole"). @default every action */
  action?: string;
}

interface Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  arn: string;
  account: string;
  userId: string;
  /** Server time (ms) from which minted credentials are rejected. */
  expiresAt?: number;
}

interface Switch<T> {
  remaining: number;
  action?: string;
  value: T;
}

interface Reply {
  status: number;
  xml: string;
  errorCode?: string;
}

/** An STS error response: HTTP status, error type, code and message, as real STS sends them. */
class StsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: "Sender" | "Receiver" = "Sender",
  ) {
    super(message);
  }
}

const NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/";
const DEFAULT_ACCOUNT = "123456789012";
const DEFAULT_ARN = "arn:aws:iam::123456789012:user/test";
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const ROLE_ARN =
  /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

/** The fake STS server. Start it with {@linkcode FakeSts.start}, stop it with {@linkcode FakeSts.stop}. */
export class FakeSts {
  /** Base URL to give SDK clients as their endpoint, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every call in order of arrival, rejected ones included. */
  readonly calls: StsCall[] = [];

  readonly #server: Server;
  readonly #region: string;
  readonly #stalls = new Set<() => void>();
  readonly #identities = new Map<string, Identity>();
  #throttle?: Switch<null>;
  #fail?: Switch<number>;
  #deny?: Switch<string>;
  #stall?: Switch<number>;
  #durationOverride?: number;
  #clockOffsetMs = 0;

  private constructor(server: Server, url: string, region: string) {
    this.#server = server;
    this.url = url;
    this.#region = region;
    server.on(
      "request",
      (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res),
    );
  }

  /** start() listens on loopback and resolves once the server accepts connections. */
  static async start(options: FakeStsOptions = {}): Promise<FakeSts> {
    const hostname = options.hostname ?? "127.0.0.1";
    if (!LOOPBACK.test(hostname)) {
      throw new RangeError(
        `Cannot start fake STS on "${hostname}": it listens on loopback addresses only`,
      );
    }
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, hostname, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    return new FakeSts(server, `http://${host}:${port}`, options.region ?? "us-east-1");
  }

  /** count() is the number of calls received, of one action when given. */
  count(action?: string): number {
    return action === undefined
      ? this.calls.length
      : this.calls.filter((call) => call.action === action).length;
  }

  /** addIdentity() makes a key pair known, so that requests signed with it are accepted. */
  addIdentity(id: FakeStsIdentity): void {
    const arn = id.arn ?? DEFAULT_ARN;
    this.#identities.set(id.accessKeyId, {
      accessKeyId: id.accessKeyId,
      secretAccessKey: id.secretAccessKey,
      sessionToken: id.sessionToken,
      arn,
      account: id.account ?? DEFAULT_ACCOUNT,
      userId: userIdFor(arn),
    });
  }

  /** throttle() fails calls with 400 Throttling "Rate exceeded". */
  throttle(options: SwitchOptions = {}): void {
    this.#throttle = toSwitch(options, null);
  }

  /** fail() fails calls with a server error: 503 ServiceUnavailable by default, 500 InternalFailure. */
  fail(options: SwitchOptions & { status?: number } = {}): void {
    this.#fail = toSwitch(options, options.status ?? 503);
  }

  /** deny() fails calls with 403 AccessDenied (or the given code) naming the caller and resource. */
  deny(options: SwitchOptions & { code?: string } = {}): void {
    this.#deny = toSwitch(options, options.code ?? "AccessDenied");
  }

  /** stall() waits `ms` before responding to each call; stop() cuts waiting calls off. */
  stall(ms: number, options: SwitchOptions = {}): void {
    this.#stall = toSwitch(options, ms);
  }

  /** setDurationOverride() makes minted credentials live this many seconds whatever was asked. */
  setDurationOverride(seconds: number | undefined): void {
    this.#durationOverride = seconds;
  }

  /**
   * setClockOffset() makes the server's clock run this many seconds ahead (or behind, when
   * negative). It shows in the `Date` header, in Expiration, and in the check of X-Amz-Date.
   */
  setClockOffset(seconds: number): void {
    this.#clockOffsetMs = seconds * 1000;
  }

  /** reset() turns every behaviour switch off; identities and calls stay. */
  reset(): void {
    this.#throttle = undefined;
    this.#fail = undefined;
    this.#deny = undefined;
    this.#stall = undefined;
    this.#durationOverride = undefined;
    this.#clockOffsetMs = 0;
  }

  /** clearCalls() removes the calls recorded so far. */
  clearCalls(): void {
    this.calls.length = 0;
  }

  /** stop() cuts off stalled calls, closes every connection and stops listening. */
  async stop(): Promise<void> {
    for (const abort of this.#stalls) abort();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const body = await readBody(req);
    const now = this.#now();
    const params = parseParams(req.url ?? "/", body);
    const authorization = parseAuthorization(req.headers.authorization ?? "");
    const call: StsCall = {
      action: params.Action ?? "",
      accessKeyId: authorization?.accessKeyId ?? "",
      params,
      at: new Date(now),
      region: authorization?.region ?? this.#region,
      signatureValid: false,
      status: 0,
    };
    this.calls.push(call);
    const caller = this.#authenticate(req, body, authorization, now, call);

    const stall = take(this.#stall, call.action);
    if (stall !== undefined && !(await this.#sleep(stall))) return;

    let reply: Reply;
    try {
      if (caller instanceof StsError) throw caller;
      this.#applySwitches(call.action, caller, params);
      reply = { status: 200, xml: this.#act(call.action, caller, params, requestId) };
    } catch (error) {
      const e = error instanceof StsError
        ? error
        : new StsError(500, "InternalFailure", "An internal error has occurred", "Receiver");
      reply = { status: e.status, errorCode: e.code, xml: errorXml(e, requestId) };
    }
    call.status = reply.status;
    call.errorCode = reply.errorCode;
    res.writeHead(reply.status, {
      "Content-Type": "text/xml",
      "Content-Length": Buffer.byteLength(reply.xml),
      "Date": new Date(this.#now()).toUTCString(),
      "x-amzn-RequestId": requestId,
    });
    res.end(reply.xml);
  }

  // The checks real STS makes before it looks at the action, in its order.
  #authenticate(
    req: IncomingMessage,
    body: Uint8Array,
    authorization: SigV4Authorization | undefined,
    now: number,
    call: StsCall,
  ): Identity | StsError {
    if (!authorization) {
      return new StsError(
        403,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
      );
    }
    const identity = this.#identities.get(authorization.accessKeyId);
    const headers = headerValues(req.rawHeaders);
    const token = headers.get("x-amz-security-token");
    if (!identity || token !== identity.sessionToken) {
      return new StsError(
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
      );
    }
    if (identity.expiresAt !== undefined && now >= identity.expiresAt) {
      return new StsError(
        400,
        "ExpiredToken",
        "The security token included in the request is expired",
      );
    }
    const amzDate = headers.get("x-amz-date") ?? amzDateOf(Date.parse(headers.get("date") ?? ""));
    const signedAt = parseAmzDate(amzDate ?? "");
    if (amzDate === undefined || signedAt === undefined) {
      return new StsError(
        400,
        "IncompleteSignature",
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      );
    }
    call.signatureValid = verifySignature(
      { method: req.method ?? "GET", rawUrl: req.url ?? "/", rawHeaders: req.rawHeaders, body },
      authorization,
      amzDate,
      identity.secretAccessKey,
    );
    if (authorization.service !== "sts") {
      return new StsError(
        403,
        "SignatureDoesNotMatch",
        "Credential should be scoped to correct service: 'sts'. ",
      );
    }
    if (authorization.date !== amzDate.slice(0, 8)) {
      return new StsError(
        403,
        "SignatureDoesNotMatch",
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${authorization.date}' != '${
          amzDate.slice(0, 8)
        }', from '${amzDate}'.`,
      );
    }
    if (signedAt < now - MAX_CLOCK_SKEW_MS) {
      const limit = `${amzDateOf(now - MAX_CLOCK_SKEW_MS)} (${amzDateOf(now)} - 5 min.)`;
      return new StsError(
        403,
        "SignatureDoesNotMatch",
        `Signature expired: ${amzDate} is now earlier than ${limit}`,
      );
    }
    if (signedAt > now + MAX_CLOCK_SKEW_MS) {
      const limit = `${amzDateOf(now + MAX_CLOCK_SKEW_MS)} (${amzDateOf(now)} + 5 min.)`;
      return new StsError(
        403,
        "SignatureDoesNotMatch",
        `Signature not yet current: ${amzDate} is still later than ${limit}`,
      );
    }
    if (!call.signatureValid) {
      return new StsError(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
      );
    }
    return identity;
  }

  #applySwitches(action: string, caller: Identity, params: Record<string, string>): void {
    if (take(this.#throttle, action) !== undefined) {
      throw new StsError(400, "Throttling", "Rate exceeded");
    }
    const status = take(this.#fail, action);
    if (status !== undefined) {
      throw status === 503
        ? new StsError(status, "ServiceUnavailable", "Service Unavailable", "Receiver")
        : new StsError(status, "InternalFailure", "An internal error has occurred", "Receiver");
    }
    const code = take(this.#deny, action);
    if (code !== undefined) {
      const resource = params.RoleArn ?? caller.arn;
      throw new StsError(
        403,
        code,
        `User: ${caller.arn} is not authorized to perform: sts:${action} on resource: ${resource}`,
      );
    }
  }

  #act(
    action: string,
    caller: Identity,
    params: Record<string, string>,
    requestId: string,
  ): string {
    switch (action) {
      case "AssumeRole":
        return this.#assumeRole(caller, params, requestId);
      case "GetSessionToken":
        return this.#getSessionToken(caller, params, requestId);
      case "GetCallerIdentity":
        return responseXml(
          "GetCallerIdentity",
          `<Arn>${xml(caller.arn)}</Arn><UserId>${
            xml(caller.userId)
          }</UserId><Account>${caller.account}</Account>`,
          requestId,
        );
      default:
        throw new StsError(
          400,
          "InvalidAction",
          `Could not find operation ${action} for version 2011-06-15`,
        );
    }
  }

  #assumeRole(caller: Identity, params: Record<string, string>, requestId: string): string {
    const roleArn = required(params, "RoleArn", "roleArn");
    const role = ROLE_ARN.exec(roleArn);
    if (!role) invalid(roleArn, "roleArn", "Member must be a valid IAM role ARN");
    const sessionName = required(params, "RoleSessionName", "roleSessionName");
    if (!SESSION_NAME.test(sessionName)) {
      invalid(
        sessionName,
        "roleSessionName",
        "Member must satisfy regular expression pattern: [\\w+=,.@-]{2,64}",
      );
    }
    const duration = durationOf(params, 3600, 43200);
    if (caller.sessionToken !== undefined && duration > 3600) {
      throw new StsError(
        400,
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
      );
    }
    const [, partition, account, roleName] = role;
    const minted = this.#mint(duration, {
      arn: `arn:${partition}:sts::${account}:assumed-role/${roleName}/${sessionName}`,
      account,
      userId: `${roleIdFor(partition, account, roleName)}:${sessionName}`,
    });
    const packed = params.Policy || params["PolicyArns.member.1.arn"] || params["Tags.member.1.Key"]
      ? `<PackedPolicySize>${packedPolicySize(params)}</PackedPolicySize>`
      : "";
    const source = params.SourceIdentity
      ? `<SourceIdentity>${xml(params.SourceIdentity)}</SourceIdentity>`
      : "";
    return responseXml(
      "AssumeRole",
      `${source}<AssumedRoleUser><AssumedRoleId>${xml(minted.userId)}</AssumedRoleId><Arn>${
        xml(minted.arn)
      }</Arn></AssumedRoleUser>${credentialsXml(minted)}${packed}`,
      requestId,
    );
  }

  #getSessionToken(caller: Identity, params: Record<string, string>, requestId: string): string {
    if (caller.sessionToken !== undefined) {
      throw new StsError(
        403,
        "AccessDenied",
        "Cannot call GetSessionToken with session credentials",
      );
    }
    const duration = durationOf(params, 43200, 129600);
    const minted = this.#mint(duration, {
      arn: caller.arn,
      account: caller.account,
      userId: caller.userId,
    });
    return responseXml("GetSessionToken", credentialsXml(minted), requestId);
  }

  // New temporary credentials, made known so that clients using them are accepted.
  #mint(
    duration: number,
    principal: Pick<Identity, "arn" | "account" | "userId">,
  ): Required<Identity> {
    const lifetime = this.#durationOverride ?? duration;
    const minted: Required<Identity> = {
      ...principal,
      accessKeyId: `ASIA${randomBase32(16)}`,
      secretAccessKey: randomBytes(30).toString("base64"),
      sessionToken: randomBytes(300).toString("base64"),
      expiresAt: Math.floor((this.#now() + lifetime * 1000) / 1000) * 1000,
    };
    this.#identities.set(minted.accessKeyId, minted);
    return minted;
  }

  #sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const abort = () => {
        clearTimeout(timer);
        this.#stalls.delete(abort);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.#stalls.delete(abort);
        resolve(true);
      }, ms);
      this.#stalls.add(abort);
    });
  }

  #now(): number {
    return Date.now() + this.#clockOffsetMs;
  }
}

/** formatExpiration() writes a time as STS does: `YYYY-MM-DDTHH:MM:SSZ`, no milliseconds. */
export function formatExpiration(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function toSwitch<T>(options: SwitchOptions, value: T): Switch<T> {
  return { remaining: options.times ?? Infinity, action: options.action, value };
}

// The switch's value when it applies to this call, counting the call against `times`.
function take<T>(behaviour: Switch<T> | undefined, action: string): T | undefined {
  if (!behaviour || behaviour.remaining <= 0) return undefined;
  if (behaviour.action !== undefined && behaviour.action !== action) return undefined;
  behaviour.remaining -= 1;
  return behaviour.value;
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks);
}

// Query parameters, then form parameters from the body, which win on a clash.
function parseParams(rawUrl: string, body: Uint8Array): Record<string, string> {
  const params: Record<string, string> = {};
  const queryAt = rawUrl.indexOf("?");
  const sources = [
    queryAt < 0 ? "" : rawUrl.slice(queryAt + 1),
    Buffer.from(body).toString("utf8"),
  ];
  for (const source of sources) {
    for (const [name, value] of new URLSearchParams(source)) params[name] = value;
  }
  return params;
}

function required(params: Record<string, string>, name: string, member: string): string {
  const value = params[name];
  if (value === undefined) {
    throw new StsError(
      400,
      "ValidationError",
      `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

function invalid(value: string, member: string, constraint: string): never {
  throw new StsError(
    400,
    "ValidationError",
    `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

function durationOf(params: Record<string, string>, fallback: number, max: number): number {
  const text = params.DurationSeconds;
  if (text === undefined) return fallback;
  const seconds = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(seconds)) invalid(text, "durationSeconds", "Member must be an integer");
  if (seconds < 900) {
    invalid(text, "durationSeconds", "Member must have value greater than or equal to 900");
  }
  if (seconds > max) {
    invalid(text, "durationSeconds", `Member must have value less than or equal to ${max}`);
  }
  return seconds;
}

// A rough percentage of the packed session policy limit, as real STS reports it.
function packedPolicySize(params: Record<string, string>): number {
  const size = Object.entries(params)
    .filter(([name]) => /^(Policy|PolicyArns\.|Tags\.|TransitiveTagKeys\.)/.test(name))
    .reduce((total, [, value]) => total + value.length, 0);
  return Math.max(1, Math.ceil(size / 20.48));
}

function credentialsXml(minted: Required<Identity>): string {
  return `<Credentials><AccessKeyId>${minted.accessKeyId}</AccessKeyId><SecretAccessKey>${
    xml(minted.secretAccessKey)
  }</SecretAccessKey><SessionToken>${xml(minted.sessionToken)}</SessionToken><Expiration>${
    formatExpiration(minted.expiresAt)
  }</Expiration></Credentials>`;
}

function responseXml(action: string, result: string, requestId: string): string {
  return `<${action}Response xmlns="${NAMESPACE}">\n  <${action}Result>${result}</${action}Result>\n` +
    `  <ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>\n</${action}Response>\n`;
}

function errorXml(error: StsError, requestId: string): string {
  return `<ErrorResponse xmlns="${NAMESPACE}">\n  <Error>\n    <Type>${error.type}</Type>\n` +
    `    <Code>${xml(error.code)}</Code>\n    <Message>${
      xml(error.message)
    }</Message>\n  </Error>\n` +
    `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`;
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// A stable unique id as IAM shows them: a four-letter kind, then 17 characters.
function uniqueId(prefix: string, seed: string): string {
  const digest = createHash("sha256").update(seed).digest();
  return prefix +
    Array.from(digest.subarray(0, 17), (byte) => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[byte % 32])
      .join("");
}

function roleIdFor(partition: string, account: string, roleName: string): string {
  return uniqueId("AROA", `${partition}:${account}:${roleName}`);
}

function userIdFor(arn: string): string {
  const assumed = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
  return assumed
    ? `${roleIdFor(assumed[1], assumed[2], assumed[3])}:${assumed[4]}`
    : uniqueId("AIDA", arn);
}

function randomBase32(length: number): string {
  return Array.from(randomBytes(length), (byte) => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[byte % 32])
    .join("");
}

function amzDateOf(ms: number): string | undefined {
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, "");
}

function parseAmzDate(amzDate: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : undefined;
}
