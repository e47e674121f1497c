// configfile.ts: reading and atomically rewriting the director's YAML config file.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config, parseConfig } from '../core/config';
import { UsageError } from '../core/errors';

export function readConfigFile(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e: any) {
    throw new UsageError(`--config ${JSON.stringify(file)}: cannot read: ${e.code ?? e.message}`);
  }
  return parseConfig(text, file);
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
      fs.writeSync(fd, text);
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
