// SPDX-License-Identifier: Apache-2.0
// abi.ts: byte-level codecs for every struct in bpf/include/xlvs_abi.h, and its limits; test/unit/abi.test.ts checks each layout against the object's BTF.

export * from './abi-codec';
export * from './abi-limits';
export * from './abi-structs';
export * from './abi-structs-ct';
/** The protocol numbers the keys carry: net/proto.ts is their one home. */
export { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';
