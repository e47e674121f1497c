// SPDX-License-Identifier: Apache-2.0
// edits.ts: the pure edits of the service list the API verbs make (add/edit/delete a service or real) and the NotFound/Exists errors they throw.

import type { RealConfig, ServiceConfig } from './config';
import { UsageError } from './errors';
import { serviceName } from './net/label';

/** A service named the way ipvsadm and the API name it. */
export interface ServiceKey {
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

function sameKey(s: { vip: string; port: number; protocol: string }, k: ServiceKey): boolean {
  return s.vip === k.vip && s.port === k.port && s.protocol === k.protocol;
}

/** The named service or real does not exist (ipvsadm: "No such service" / "No such destination"). */
export class NotFoundError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The service or real already exists (ipvsadm: "Service already exists" / "Destination already exists"). */
export class ExistsError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'ExistsError';
  }
}

/**
 * The service named k, copied into the list first so an edit never writes into the running config's objects: the
 * controller hands edits a shallow copy of the list (a deep copy of 10,000 services costs more than the edit).
 */
function own(services: ServiceConfig[], k: ServiceKey): ServiceConfig | undefined {
  const i = services.findIndex((x) => sameKey(x, k));
  if (i < 0) return undefined;
  const copy = { ...services[i]!, reals: [...services[i]!.reals] };
  services[i] = copy;
  return copy;
}

/** Pure edits of the service list the API verbs make; each throws NotFound/Exists the way ipvsadm reports them. */
export const edits = {
  addService(s: Partial<ServiceConfig> & ServiceKey) {
    return (services: ServiceConfig[]) => {
      if (services.some((x) => sameKey(x, s))) throw new ExistsError(`service ${serviceName(s)} already exists`);
      services.push({ reals: [], ...s } as ServiceConfig);
    };
  },
  editService(k: ServiceKey, patch: Partial<Omit<ServiceConfig, 'vip' | 'port' | 'protocol' | 'reals'>>) {
    return (services: ServiceConfig[]) => {
      const i = services.findIndex((x) => sameKey(x, k));
      if (i < 0) throw new NotFoundError(`no service ${serviceName(k)}`);
      services[i] = { ...services[i]!, ...patch };
    };
  },
  deleteService(k: ServiceKey) {
    return (services: ServiceConfig[]) => {
      const i = services.findIndex((x) => sameKey(x, k));
      if (i < 0) throw new NotFoundError(`no service ${serviceName(k)}`);
      services.splice(i, 1);
    };
  },
  clear() {
    return (services: ServiceConfig[]) => {
      services.splice(0);
    };
  },
  addReal(k: ServiceKey, r: Partial<RealConfig> & { address: string }) {
    return (services: ServiceConfig[]) => {
      const s = own(services, k);
      if (!s) throw new NotFoundError(`no service ${serviceName(k)}`);
      if (s.reals.some((x) => x.address === r.address)) throw new ExistsError(`real ${r.address} of ${serviceName(k)} already exists`);
      s.reals.push({ weight: 1, ...r } as RealConfig);
    };
  },
  editReal(k: ServiceKey, r: Partial<RealConfig> & { address: string }) {
    return (services: ServiceConfig[]) => {
      const s = own(services, k);
      if (!s) throw new NotFoundError(`no service ${serviceName(k)}`);
      const j = s.reals.findIndex((x) => x.address === r.address);
      if (j < 0) throw new NotFoundError(`no real ${r.address} in ${serviceName(k)}`);
      s.reals[j] = { ...s.reals[j]!, ...r };
    };
  },
  deleteReal(k: ServiceKey, address: string) {
    return (services: ServiceConfig[]) => {
      const s = own(services, k);
      if (!s) throw new NotFoundError(`no service ${serviceName(k)}`);
      const j = s.reals.findIndex((x) => x.address === address);
      if (j < 0) throw new NotFoundError(`no real ${address} in ${serviceName(k)}`);
      s.reals.splice(j, 1);
    };
  },
};
