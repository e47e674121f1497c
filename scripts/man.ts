// SPDX-License-Identifier: Apache-2.0
// man.ts: writes man/xlvs.8 and man/xlvsadm.8 from the command definitions (run by scripts/build.sh after tsc).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildProgram } from '../src/cli/main';
import { xlvsadmManPage, xlvsManPage } from '../src/cli/manpage';
import { IPVSADM_HELP } from '../src/core/ipvsadm-parse';

const root = path.join(__dirname, '..', '..');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
fs.mkdirSync(path.join(root, 'man'), { recursive: true });
fs.writeFileSync(path.join(root, 'man', 'xlvs.8'), xlvsManPage(buildProgram(), version));
fs.writeFileSync(path.join(root, 'man', 'xlvsadm.8'), xlvsadmManPage(IPVSADM_HELP, version));
