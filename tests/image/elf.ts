/**
 * Reads what a 64-bit little-endian ELF executable needs from the system it runs on: its
 * program interpreter, its DT_NEEDED shared libraries and the symbol versions it requires
 * from each (the `.gnu.version_r` table). Parsed by hand so the image tests need no binutils.
 *
 * Layouts are from the System V ABI (gABI) and the LSB's symbol versioning chapter.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { closeSync, openSync, readSync } from "node:fs";

/** Shared-library needs of an executable. */
export interface ElfNeeds {
  /** `e_machine`: 62 is x86-64, 183 is AArch64. */
  machine: number;
  /** PT_INTERP, such as `/lib64/ld-linux-x86-64.so.2`; undefined for a static executable. */
  interpreter?: string;
  /** DT_NEEDED entries in file order. */
  needed: string[];
  /** Required symbol versions by library, such as `{"libc.so.6": ["GLIBC_2.2.5", …]}`. */
  versions: Record<string, string[]>;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_VERNEED = 0x6ffffffen;
const DT_VERNEEDNUM = 0x6fffffffn;

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  fileSize: number;
}

/**
 * Reads the shared-library needs of the ELF file at `path`.
 *
 * @throws {TypeError} when the file is not a 64-bit little-endian ELF file
 */
export function readElfNeeds(path: string): ElfNeeds {
  const fd = openSync(path, "r");
  try {
    const read = (offset: number, length: number): Buffer => {
      const buffer = Buffer.alloc(length);
      const bytesRead = readSync(fd, buffer, 0, length, offset);
      if (bytesRead !== length) throw new TypeError(`Cannot read ELF file "${path}": it ends at byte ${offset + bytesRead}`);
      return buffer;
    };

    const header = read(0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) {
      throw new TypeError(`Cannot read "${path}": not a 64-bit little-endian ELF file`);
    }
    const machine = header.readUInt16LE(0x12);
    const programHeaderOffset = Number(header.readBigUInt64LE(0x20));
    const programHeaderSize = header.readUInt16LE(0x36);
    const programHeaderCount = header.readUInt16LE(0x38);

    const segments: Segment[] = [];
    for (let index = 0; index < programHeaderCount; index++) {
      const entry = read(programHeaderOffset + index * programHeaderSize, 56);
      segments.push({
        type: entry.readUInt32LE(0),
        offset: Number(entry.readBigUInt64LE(8)),
        vaddr: Number(entry.readBigUInt64LE(16)),
        fileSize: Number(entry.readBigUInt64LE(32)),
      });
    }

    const interpreterSegment = segments.find((segment) => segment.type === PT_INTERP);
    const interpreter = interpreterSegment
      ? read(interpreterSegment.offset, interpreterSegment.fileSize).toString("latin1").replace(/\0.*$/s, "")
      : undefined;

    const dynamicSegment = segments.find((segment) => segment.type === PT_DYNAMIC);
    if (!dynamicSegment) return { machine, interpreter, needed: [], versions: {} };

    // The dynamic section names tables by virtual address; PT_LOAD segments map them to
    // file offsets.
    const fileOffset = (vaddr: number): number => {
      const load = segments.find((segment) =>
        segment.type === PT_LOAD && vaddr >= segment.vaddr && vaddr < segment.vaddr + segment.fileSize
      );
      if (!load) throw new TypeError(`Cannot read "${path}": address 0x${vaddr.toString(16)} is in no loadable segment`);
      return vaddr - load.vaddr + load.offset;
    };

    const dynamic = read(dynamicSegment.offset, dynamicSegment.fileSize);
    const neededOffsets: number[] = [];
    let stringTable = 0;
    let verneed = 0;
    let verneedCount = 0;
    for (let position = 0; position + 16 <= dynamic.length; position += 16) {
      const tag = dynamic.readBigInt64LE(position);
      const value = Number(dynamic.readBigUInt64LE(position + 8));
      if (tag === DT_NULL) break;
      if (tag === DT_NEEDED) neededOffsets.push(value);
      else if (tag === DT_STRTAB) stringTable = fileOffset(value);
      else if (tag === DT_VERNEED) verneed = fileOffset(value);
      else if (tag === DT_VERNEEDNUM) verneedCount = value;
    }

    const readString = (offset: number): string => {
      let text = "";
      for (let position = stringTable + offset;; position += 64) {
        const chunk = read(position, 64).toString("latin1");
        const end = chunk.indexOf("\0");
        if (end >= 0) return text + chunk.slice(0, end);
        text += chunk;
      }
    };

    const needed = neededOffsets.map(readString);
    const versions: Record<string, string[]> = {};
    let entryOffset = verneed;
    for (let index = 0; index < verneedCount; index++) {
      // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
      const entry = read(entryOffset, 16);
      const library = readString(entry.readUInt32LE(4));
      const names: string[] = [];
      let auxOffset = entryOffset + entry.readUInt32LE(8);
      for (let auxIndex = 0; auxIndex < entry.readUInt16LE(2); auxIndex++) {
        // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
        const aux = read(auxOffset, 16);
        names.push(readString(aux.readUInt32LE(8)));
        auxOffset += aux.readUInt32LE(12);
      }
      versions[library] = names;
      entryOffset += entry.readUInt32LE(12);
    }
    return { machine, interpreter, needed, versions };
  } finally {
    closeSync(fd);
  }
}
