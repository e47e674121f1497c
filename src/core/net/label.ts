// SPDX-License-Identifier: Apache-2.0
// label.ts: how a service and a real are named in text, in both families: "TCP 10.0.0.1:80", "TCP  [2001:db8::1]:80", "10.0.0.1:80/tcp", "tcp/[2001:db8::1]:80".

import { formatHostPort } from './addr';
import { ipvsadmProto, type Protocol, protoWord } from './proto';

/** A service as any layer holds it: the config's protocol name or the datapath's protocol number. */
export interface ServiceRef {
  vip: string;
  port: number;
  protocol: Protocol | number;
}

/** A real's address and port as ipvsadm prints them: "10.0.0.11:80", "[2001:db8::11]:80". */
export function realName(address: string, port: number): string {
  return formatHostPort(address, port);
}

/** The one name of a service in messages, logs and events: "TCP 10.0.0.100:80", "UDP [2001:db8::100]:53". */
export function serviceName(s: ServiceRef): string {
  return `${ipvsadmProto(s.protocol)} ${formatHostPort(s.vip, s.port)}`;
}

/** The service column of ipvsadm -L (and of xlvs list/status): protocol, two spaces, address:port. */
export function serviceRow(s: ServiceRef): string {
  return `${ipvsadmProto(s.protocol)}  ${formatHostPort(s.vip, s.port)}`;
}

/** "10.0.0.100:80/tcp": the service as config problems, config diffs and trace name it, and the key maps join on. */
export function serviceId(s: ServiceRef): string {
  return `${formatHostPort(s.vip, s.port)}/${protoWord(s.protocol)}`;
}

/** "tcp/10.0.0.100:80": the protocol first, as health keys and sync maps are prefixed. */
export function serviceTag(s: ServiceRef): string {
  return `${protoWord(s.protocol)}/${formatHostPort(s.vip, s.port)}`;
}
