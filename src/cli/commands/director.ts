// SPDX-License-Identifier: Apache-2.0
// director.ts: `xlvs director drain|undrain` (in director-drain.ts and director-undrain.ts): this director's place among its peers.

import type { Command } from 'commander';
import { registerDirectorDrain } from './director-drain';
import { registerDirectorUndrain } from './director-undrain';

export function registerDirector(program: Command): void {
  const cmd = program.command('director').description("take this director out of (or back into) its router's BGP ECMP group");
  registerDirectorDrain(cmd);
  registerDirectorUndrain(cmd);
}
