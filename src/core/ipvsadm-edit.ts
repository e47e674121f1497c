// SPDX-License-Identifier: Apache-2.0
// ipvsadm-edit.ts: a parsed ipvsadm command as a change of the config, where a null field removes the setting (-E without -p ends persistence).

import type { Config, RealConfig, ServiceConfig } from './config';
import type { ServiceKey } from './edits';
import { edits } from './edits';
import type { IpvsadmCommand } from './ipvsadm-parse';

/** The fields that are set (an add leaves a null field out). */
export function present<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as { [K in keyof T]?: Exclude<T[K], null> };
}

const sameKey = (k: ServiceKey) => (s: ServiceConfig) => s.vip === k.vip && s.port === k.port && s.protocol === k.protocol;

/** edits.editService where a null field is removed rather than set (-E without -p ends persistence). */
export function patchService(k: ServiceKey, fields: Readonly<Record<string, unknown>>): (services: ServiceConfig[]) => void {
  return (services) => {
    edits.editService(k, present(fields) as Partial<ServiceConfig>)(services);
    const s = services.find(sameKey(k)) as unknown as Record<string, unknown>;
    for (const [f, v] of Object.entries(fields)) if (v === null) delete s[f];
  };
}

/** edits.editReal where a null field is removed rather than set (-e without -x ends the upper threshold). */
export function patchReal(k: ServiceKey, address: string, fields: Readonly<Record<string, unknown>>): (services: ServiceConfig[]) => void {
  return (services) => {
    edits.editReal(k, { ...(present(fields) as Partial<RealConfig>), address })(services);
    const r = services.find(sameKey(k))!.reals.find((x) => x.address === address) as unknown as Record<string, unknown>;
    for (const [f, v] of Object.entries(fields)) if (v === null) delete r[f];
  };
}

/** A command's change of a config (what -R applies line by line to a copy); undefined for commands that change nothing. */
export function ipvsadmEdit(cmd: IpvsadmCommand): ((cfg: Config) => void) | undefined {
  switch (cmd.kind) {
    case 'add-service':
      // An IPv6 service's persistence netmask is a prefix length (a number), as the config takes it (issue 18).
      return (c) => edits.addService({ ...cmd.svc, ...present(cmd.fields) } as Partial<ServiceConfig> & ServiceKey)(c.services);
    case 'edit-service':
      return (c) => patchService(cmd.svc, { ...cmd.fields })(c.services);
    case 'delete-service':
      return (c) => edits.deleteService(cmd.svc)(c.services);
    case 'clear':
      return (c) => edits.clear()(c.services);
    case 'add-real':
      return (c) => edits.addReal(cmd.svc, { address: cmd.address, ...present(cmd.fields) })(c.services);
    case 'edit-real':
      return (c) => patchReal(cmd.svc, cmd.address, { ...cmd.fields })(c.services);
    case 'delete-real':
      return (c) => edits.deleteReal(cmd.svc, cmd.address)(c.services);
    case 'set-timeouts':
      return (c) => {
        c.timeouts = { ...c.timeouts, ...present({ tcp: cmd.timeouts.tcp || null, tcp_fin: cmd.timeouts.tcp_fin || null, udp: cmd.timeouts.udp || null }) };
      };
    default:
      return undefined;
  }
}
