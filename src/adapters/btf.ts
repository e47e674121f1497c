// SPDX-License-Identifier: Apache-2.0
// btf.ts: what a built BPF object declares (struct layouts from its BTF, its maps), read through the addon without loading it.

import * as fs from 'node:fs';
import type { CompiledStruct } from '../core/abicheck';
import { native, type ObjectMap } from './native';

function checkObject(objPath: string): void {
  if (typeof objPath !== 'string' || objPath === '') throw new TypeError('objPath must be a non-empty string');
  if (!fs.existsSync(objPath)) throw new Error(`no BPF object at ${objPath} (scripts/build.sh makes them)`);
}

/** The struct `name` as the compiler laid it out in the object; null when its BTF has no such struct. */
export function compiledStruct(objPath: string, name: string): CompiledStruct | null {
  checkObject(objPath);
  if (typeof name !== 'string' || !/^[A-Za-z_]\w*$/.test(name)) throw new TypeError(`a struct name is a C identifier, not ${JSON.stringify(name)}`);
  return native().btfStruct(objPath, name);
}

/** The maps the object declares, with the sizes it gives them (before a loader resizes any). */
export function objectMaps(objPath: string): ObjectMap[] {
  checkObject(objPath);
  return native().objectMaps(objPath);
}
