// SPDX-License-Identifier: Apache-2.0
// managedvips.ts: the VIPs the director adds to the host itself (manage_vips): kept in step with the services, and removed by `xlvs down`.

import type { Config } from '../core/config';
import { vipDevices } from '../core/vlan';
import type { EventSink } from './event';
import { heldAddresses, interfaceExists, ip, vipAddrArgs } from './host';

/** VIPs follow the services (manage_vips): added when a service appears, removed when no service uses them any more. */
export class ManagedVips {
  /** VIP -> the device it was added to (a VLAN service's VIP is on its VLAN device). */
  private added = new Map<string, string>();

  constructor(private readonly event: EventSink) {}

  /** A restart takes over the VIPs of the config it starts with: a previous run added them. */
  adopt(cfg: Config): void {
    this.added = vipDevices(cfg);
  }

  /** vips: the set the running services use (ControllerEffects.vipsChanged). */
  sync(cfg: Config, vips: string[]): void {
    if (!cfg.manage_vips) return;
    const devices = vipDevices(cfg);
    const present = (dev: string) => (interfaceExists(dev) ? heldAddresses(dev) : []);
    const want = new Map(vips.map((v) => [v, devices.get(v) ?? cfg.interface]));
    for (const [v, dev] of this.added) {
      if (want.get(v) === dev || !present(dev).includes(v)) continue;
      ip(vipAddrArgs('del', v, dev));
      this.event('info', 'VIP removed', { vip: v, device: dev });
    }
    for (const [v, dev] of want) {
      if (present(dev).includes(v)) continue;
      ip(vipAddrArgs('add', v, dev));
      this.event('info', 'VIP added', { vip: v, device: dev });
    }
    this.added = want;
  }
}

/** `xlvs down`: removes every VIP the config names that its device still holds; returns those removed. */
export function removeManagedVips(cfg: Pick<Config, 'interface' | 'services'>): string[] {
  const removed: string[] = [];
  for (const [vip, dev] of vipDevices(cfg)) {
    if (!interfaceExists(dev) || !heldAddresses(dev).includes(vip)) continue;
    ip(vipAddrArgs('del', vip, dev));
    removed.push(vip);
  }
  return removed;
}
