// configfile.ts: reading and atomically rewriting the director's YAML config file.

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

/** temp file + fsync + rename (+ fsync of the directory): a crash leaves the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  let mode = 0o644;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    /* new file */
  }
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}
