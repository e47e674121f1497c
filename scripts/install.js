// SPDX-License-Identifier: Apache-2.0
// install.js: the package's install script: builds the addon with node-gyp on the target, keeping the prebuilt BPF objects.
'use strict';
// Plain JavaScript, since it also runs on "npm ci" in a fresh clone, before anything is compiled.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bpfDir = path.join(root, 'build', 'bpf');
// node-gyp rebuild empties build/, where the packed XDP objects live: hold them while it runs.
const kept = fs.existsSync(bpfDir) ? fs.readdirSync(bpfDir).map((f) => [f, fs.readFileSync(path.join(bpfDir, f))]) : [];

// npm points npm_config_node_gyp at its own copy; a clone has node-gyp in its devDependencies.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });

fs.mkdirSync(bpfDir, { recursive: true });
for (const [f, data] of kept) fs.writeFileSync(path.join(bpfDir, f), data);

if (r.status !== 0) {
  const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  const missing = [];
  if (!fs.existsSync('/usr/include/bpf/libbpf.h')) missing.push('libbpf-dev');
  if (!have('g++')) missing.push('g++');
  if (!have('make')) missing.push('make');
  if (!have('python3')) missing.push('python3');
  const hint = missing.length ? `missing: ${missing.join(' ')} (apt-get install ${missing.join(' ')})` : 'see the compiler output above';
  process.stderr.write(`xlvs: building the native addon failed: ${hint}; it needs libbpf-dev, g++, make and python3\n`);
  process.exit(1);
}
