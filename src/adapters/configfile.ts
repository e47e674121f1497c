// SPDX-License-Identifier: Apache-2.0
// configfile.ts: reading and atomically rewriting the director's YAML config file.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Config, parseConfig } from '../core/config';
import { UsageError } from '../core/errors';
import { MAX_CONFIG_BYTES } from '../core/limits';

/**
 * A text file of at most `limit` bytes. The size is checked before the file is read (an oversize file costs a stat,
 * not its reading and parsing), and the read stops past the limit for what stat cannot size (a pipe, a growing file).
 * `label` names the file in messages ("--config FILE").
 */
export function readTextFile(file: string, limit: number, label: string): string {
  const tooBig = (size?: number) =>
    new UsageError(`${label}: ${size !== undefined ? `${size} bytes, ` : ''}more than the limit of ${limit} bytes (${limit >> 20} MiB)`);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e: any) {
    throw new UsageError(`${label}: cannot read: ${e.code ?? e.message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new UsageError(`${label}: cannot read: EISDIR`);
    if (st.size > limit) throw tooBig(st.size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > limit) throw tooBig();
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (e: any) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${label}: cannot read: ${e.code ?? e.message}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** The config file, parsed and validated (start, SIGHUP, `xlvs apply -f`, `xlvs up`). */
export function readConfigFile(file: string): Config {
  return parseConfig(readTextFile(file, MAX_CONFIG_BYTES, `--config ${JSON.stringify(file)}`), file);
}

/** A config as the daemon writes it back, refused when a restart could not read it (over MAX_CONFIG_BYTES). */
export function configFileText(text: string): string {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES)
    throw new UsageError(
      `the config would be ${bytes} bytes as YAML, more than the limit of ${MAX_CONFIG_BYTES} bytes (${MAX_CONFIG_BYTES >> 20} MiB) a restart can read back; nothing was changed`,
    );
  return text;
}

/**
 * temp file + fsync + rename (+ fsync of the directory): a crash leaves the old file or the new one, never half of one.
 * The temp file is created exclusively (O_EXCL, O_NOFOLLOW) under a random name in the config's own directory, so a
 * link planted there cannot redirect the write; it takes the config's mode and owner before any byte is written.
 */
export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    /* new file */
  }
  const mode = st ? st.mode & 0o777 : 0o644;
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    try {
      fs.fchmodSync(fd, mode); // the umask may have taken bits the config has
      if (st && process.getuid?.() === 0) fs.fchownSync(fd, st.uid, st.gid);
      // One write(2) may take only part of the text (a nearly full disk); the next one then says ENOSPC. Renaming a
      // short file over the config would lose the rest of it.
      const buf = Buffer.from(text, 'utf8');
      for (let off = 0; off < buf.length; ) {
        const n = fs.writeSync(fd, buf, off, buf.length - off);
        if (n <= 0) throw Object.assign(new Error(`short write to ${tmp}`), { code: 'EIO' });
        off += n;
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}
