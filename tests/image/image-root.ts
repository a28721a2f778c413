/**
 * A directory laid out like the CredProxy image (Dockerfile), for running the compiled
 * binary under `chroot` without a container engine: the binary, only the shared libraries
 * that `ldd` names (which distroless base-debian12 provides), a static BusyBox as `ip`,
 * distroless's users, /tmp, and the device nodes and /proc that a container runtime adds.
 *
 * Needs root for chroot, mknod and unshare.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BINARY_PATH, BUSYBOX_PATH } from "./binary.ts";

/** Paths inside the image, as the Dockerfile sets them. */
export const IMAGE_PATHS = {
  binary: "/usr/local/bin/credproxy",
  ip: "/usr/local/bin/ip",
  config: "/etc/credproxy/credproxy.yaml",
  secrets: "/run/secrets",
} as const;

/** PATH of distroless images. */
export const IMAGE_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** User and group ID of distroless's `nonroot`, which runs `serve`. */
export const NONROOT_ID = 65532;

/** A directory laid out like the image. Remove it with {@linkcode ImageRoot.remove}. */
export class ImageRoot {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Builds the directory; `files` maps image paths to contents (mode 0444, owned by root). */
  static create(files: Record<string, string> = {}): ImageRoot {
    const dir = mkdtempSync(join(tmpdir(), "credproxy-image-"));
    // mkdtemp makes the directory 0700, which nonroot could not enter as its root.
    chmodSync(dir, 0o755);
    const root = new ImageRoot(dir);
    try {
      root.#populate(files);
    } catch (error) {
      root.remove();
      throw error;
    }
    return root;
  }

  /**
   * argv that runs `argv` inside the directory as `user` (a UID), with /proc mounted in a
   * private mount namespace. The chain execs, so the returned process is the command itself
   * and receives the signals sent to it.
   */
  command(argv: readonly string[], user: number = NONROOT_ID): string[] {
    return ["unshare", `--mount-proc=${join(this.dir, "proc")}`, "chroot", `--userspec=${user}:${user}`, this.dir, ...argv];
  }

  /** Path on the host of `path` inside the image. */
  hostPath(path: string): string {
    return join(this.dir, path);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #populate(files: Record<string, string>): void {
    this.#copy(BINARY_PATH, IMAGE_PATHS.binary, 0o755);
    for (const library of sharedLibraryPaths(BINARY_PATH)) this.#copy(library, library, 0o755);
    // BusyBox picks its applet from argv[0], so a copy named ip is ip.
    this.#copy(BUSYBOX_PATH, IMAGE_PATHS.ip, 0o755);

    this.#write("/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n");
    this.#write("/etc/group", "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n");
    mkdirSync(this.hostPath("/tmp"), { recursive: true });
    chmodSync(this.hostPath("/tmp"), 0o1777);
    mkdirSync(this.hostPath("/home/nonroot"), { recursive: true });
    chownSync(this.hostPath("/home/nonroot"), NONROOT_ID, NONROOT_ID);
    mkdirSync(this.hostPath("/proc"), { recursive: true });

    // A container runtime provides these; dax opens /dev/null for a child's stdin.
    mkdirSync(this.hostPath("/dev"), { recursive: true });
    for (const [name, minor] of [["null", 3], ["zero", 5], ["urandom", 9]] as const) {
      const made = spawnSync("mknod", ["-m", "666", this.hostPath(`/dev/${name}`), "c", "1", String(minor)], { encoding: "utf8" });
      if (made.status !== 0) throw new Error(`Cannot create /dev/${name} in ${this.dir}: ${made.stderr.trim() || made.error}`);
    }

    for (const [path, content] of Object.entries(files)) this.#write(path, content);
  }

  #copy(from: string, to: string, mode: number): void {
    const target = this.hostPath(to);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(from, target);
    chmodSync(target, mode);
  }

  #write(path: string, content: string): void {
    const target = this.hostPath(path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
    chmodSync(target, 0o444);
  }
}

/** Host paths of the shared libraries and the interpreter `ldd` resolves for `executable`. */
export function sharedLibraryPaths(executable: string): string[] {
  const ldd = spawnSync("ldd", [executable], { encoding: "utf8" });
  if (ldd.status !== 0) throw new Error(`ldd failed on ${executable}: ${ldd.stderr.trim()}`);
  // Lines look like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or
  // "/lib64/ld-linux-x86-64.so.2 (0x…)"; linux-vdso has no path.
  return ldd.stdout.split("\n").flatMap((line) => {
    const match = /(?:=>\s+)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    return match ? [match[1]] : [];
  });
}
