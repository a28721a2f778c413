/**
 * Scanning a watched directory: its service files and their contents.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type FilePatterns, isServiceFileName } from "./file-filter.ts";

/** Largest service file read, in bytes; a bigger file is reported instead of read. */
export const MAX_SERVICE_FILE_BYTES = 1024 * 1024;

/** State of one path as a scan found it. */
export type FileState =
  | { kind: "file"; text: string; hash: string }
  | { kind: "absent" }
  /** A symbolic link whose target is missing, as mid-way through a ConfigMap `..data` swap. */
  | { kind: "dangling" }
  | { kind: "unreadable"; reason: string };

/** The state of a path that no scan found. */
export const ABSENT: FileState = { kind: "absent" };

/** Returns whether two states describe the same file contents (or the same absence). */
export function sameState(a: FileState, b: FileState): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "file") return a.hash === (b as typeof a).hash;
  if (a.kind === "unreadable") return a.reason === (b as typeof a).reason;
  return true;
}

/**
 * Reads every service file directly inside `directory` (not in subdirectories), following
 * symbolic links. Returns undefined when the directory does not exist (yet).
 */
export async function scanDirectory(directory: string, patterns: FilePatterns): Promise<Map<string, FileState> | undefined> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }

  const found = new Map<string, FileState>();
  for (const name of names.sort()) {
    if (!isServiceFileName(name, patterns)) continue;
    const path = join(directory, name);
    const state = await readServiceFile(path);
    if (state.kind !== "absent") found.set(path, state);
  }
  return found;
}

/** Reads one file; a directory, or a file removed since the listing, reads as absent. */
async function readServiceFile(path: string): Promise<FileState> {
  try {
    const link = await lstat(path);
    let info = link;
    if (link.isSymbolicLink()) {
      try {
        info = await stat(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "dangling" };
        throw error;
      }
    }
    if (info.isDirectory()) return ABSENT;
    if (!info.isFile()) return { kind: "unreadable", reason: "is not a regular file" };
    if (info.size > MAX_SERVICE_FILE_BYTES) {
      return { kind: "unreadable", reason: `is larger than ${MAX_SERVICE_FILE_BYTES} bytes` };
    }

    const text = await readFile(path, "utf8");
    return { kind: "file", text, hash: createHash("sha256").update(text).digest("hex") };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return ABSENT;
    if (code === "EACCES" || code === "EPERM") return { kind: "unreadable", reason: "permission denied" };
    return { kind: "unreadable", reason: `cannot be read (${code ?? (error as Error).message})` };
  }
}
