/**
 * Selection of the entries of a watched directory that are dynamic service files.
 *
 * @module
 */

/** Patterns of a watched directory, as in the `dynamic_services.directories` config. */
export interface FilePatterns {
  /** Glob patterns a file name must match, such as `*.yaml`. */
  include: readonly string[];
  /** Glob patterns that exclude a file name even when it matches an include pattern. */
  exclude: readonly string[];
}

/**
 * Names editors and tools leave behind while saving: vim's `4913` probe and swap files,
 * backups ending in `~`, Emacs lock (`.#x`) and auto-save (`#x#`) files. They are never
 * service files, whatever the include patterns match.
 */
const EDITOR_LEFTOVERS = [/^4913$/, /~$/, /\.sw[a-p]$/, /^#.*#$/, /\.tmp$/i, /\.bak$/i, /\.dpkg-(?:new|old|tmp|dist)$/];

/**
 * Returns whether a directory entry named `name` is a dynamic service file.
 *
 * Names starting with a dot are skipped: they are hidden files, editor lock files, and the
 * `..data` link and `..<timestamp>` directories of Kubernetes ConfigMap and Secret volumes,
 * whose files would otherwise be read twice.
 */
export function isServiceFileName(name: string, patterns: FilePatterns): boolean {
  if (name.startsWith(".")) return false;
  if (EDITOR_LEFTOVERS.some((pattern) => pattern.test(name))) return false;
  if (!patterns.include.some((glob) => globToRegExp(glob).test(name))) return false;
  return !patterns.exclude.some((glob) => globToRegExp(glob).test(name));
}

const compiled = new Map<string, RegExp>();

/**
 * Compiles a file-name glob: `*` matches any run of characters, `?` one character,
 * `[abc]` and `[!abc]` one character of a set, `{yaml,yml}` one of the alternatives.
 */
export function globToRegExp(glob: string): RegExp {
  const cached = compiled.get(glob);
  if (cached) return cached;

  let source = "";
  let inGroup = false;
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else if (char === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) {
        source += "\\[";
        continue;
      }
      let set = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (set.startsWith("!")) set = `^${set.slice(1)}`;
      source += `[${set}]`;
      i = end;
    } else if (char === "{" && !inGroup) {
      inGroup = true;
      source += "(?:";
    } else if (char === "}" && inGroup) {
      inGroup = false;
      source += ")";
    } else if (char === "," && inGroup) source += "|";
    else source += char.replace(/[.+^$()|\\\]{}]/g, "\\$&");
  }
  if (inGroup) throw new SyntaxError(`Invalid glob "${glob}": a "{" has no closing "}"`);

  const pattern = new RegExp(`^${source}$`);
  compiled.set(glob, pattern);
  return pattern;
}
