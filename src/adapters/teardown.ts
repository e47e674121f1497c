// SPDX-License-Identifier: Apache-2.0
// teardown.ts: `xlvs down`: undoes what a daemon leaves running when it exits (the attached link, BGP routes, managed VIPs, pins).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../core/config';
import { withdrawAll } from './announce';
import { pinDir, requireRoot } from './host';
import { removeManagedVips } from './managedvips';
import { native } from './native';
import { LINK_PIN, removePins } from './pinned';

/** `xlvs down`: detach the pinned link, withdraw its BGP announcements, remove the VIPs the config names (manage_vips), and unpin everything. */
export function down(cfg: Pick<Config, 'interface' | 'manage_vips' | 'services'> | { interface: string }): string[] {
  requireRoot('xlvs down');
  const ifname = cfg.interface;
  const pins = pinDir(ifname);
  const done: string[] = [];
  const linkPin = path.join(pins, LINK_PIN);
  if (fs.existsSync(linkPin)) {
    const link = native().XdpLink.openPinned(linkPin);
    link.detach();
    done.push(`detached XDP from ${ifname}`);
  }
  for (const vip of withdrawAll(ifname)) done.push(`withdrew the BGP announcement of ${vip}`);
  if ('services' in cfg && cfg.manage_vips) for (const vip of removeManagedVips(cfg)) done.push(`removed VIP ${vip}`);
  if (fs.existsSync(pins)) {
    removePins(pins);
    done.push(`removed pins in ${pins}`);
  }
  return done;
}
