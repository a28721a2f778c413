/**
 * Replacement of known secret values in text, the backstop behind "never log a secret".
 *
 * @module
 */

/** Shortest value treated as a secret; shorter strings would match ordinary words. */
const MIN_SECRET_LENGTH = 8;

/** Text that stands in for a removed secret. */
export const REDACTED = "[REDACTED]";

/**
 * Holds the secret values CredProxy knows (tokens, keys, session tokens, external IDs) and
 * removes them from text.
 *
 * Values are grouped by owner, such as a service name, so that a refresh replaces the
 * previous credentials instead of letting the set grow for as long as the process runs.
 */
export class SecretRedactor {
  #byOwner = new Map<string, string[]>();
  #all: string[] = [];

  /** Sets the secrets of `owner`, replacing those it had. */
  set(owner: string, values: Iterable<string | undefined>): void {
    const kept = [...values].filter((value): value is string => typeof value === "string" && value.length >= MIN_SECRET_LENGTH);
    if (kept.length === 0) this.#byOwner.delete(owner);
    else this.#byOwner.set(owner, kept);
    this.#rebuild();
  }

  /** Adds secrets to `owner`, keeping those it had. */
  add(owner: string, values: Iterable<string | undefined>): void {
    this.set(owner, [...(this.#byOwner.get(owner) ?? []), ...values]);
  }

  /** Forgets the secrets of `owner`. */
  delete(owner: string): void {
    this.#byOwner.delete(owner);
    this.#rebuild();
  }

  /** Returns `text` with every known secret replaced by `[REDACTED]`. */
  redact(text: string): string {
    let result = text;
    for (const secret of this.#all) {
      if (result.includes(secret)) result = result.replaceAll(secret, REDACTED);
    }
    return result;
  }

  #rebuild(): void {
    // Longest first, so a secret that contains another is replaced whole.
    this.#all = [...new Set([...this.#byOwner.values()].flat())].sort((a, b) => b.length - a.length);
  }
}
