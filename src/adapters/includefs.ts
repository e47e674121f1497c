// SPDX-License-Identifier: Apache-2.0
// includefs.ts: the local file system as keepalived's include reads it, for `xlvs import keepalived` (the core globs and parses).

import * as fs from 'node:fs';
import type { PathKind } from '../core/glob';
import type { IncludeFs } from '../core/keepalived-include';
import { MAX_CONFIG_BYTES } from '../core/limits';
import { readTextFile } from './configfile';

/** Included files through the local file system; symlinks followed, as keepalived's fopen() and glob() do. */
export const localIncludeFs: IncludeFs = {
  stat(p: string): PathKind | undefined {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return undefined;
    }
    if (st.isDirectory()) return 'dir';
    if (!st.isFile()) return 'other';
    // keepalived refuses a config file with any execute bit.
    return st.mode & 0o111 ? 'exec' : 'file';
  },
  readDir(p: string): string[] {
    try {
      return fs.readdirSync(p);
    } catch {
      return [];
    }
  },
  readFile(p: string): string {
    // The message names the file itself; the include entry adds the statement and line.
    return readTextFile(p, MAX_CONFIG_BYTES, 'cannot be included').replace(/^cannot be included: /, '');
  },
  realPath(p: string): string {
    return fs.realpathSync(p);
  },
};
