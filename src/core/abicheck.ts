// SPDX-License-Identifier: Apache-2.0
// abicheck.ts: compares a codec of abi.ts with the struct the compiler laid out (a built object's BTF), naming each difference.

import type { FieldSpec } from './abi';

/** A struct as the compiler laid it out, read from the BTF of a built object. */
export interface CompiledStruct {
  name: string;
  size: number;
  /** In declaration order; bitfield_bits is 0 except for a bitfield. */
  members: readonly { name: string; offset_bits: number; size: number; bitfield_bits: number }[];
}

/**
 * One line per difference between a codec and the compiled struct of its name ([] when they agree): the size, each
 * field's offset and size, fields only one side has, and padding the compiler added where the header's rule wants an
 * explicit pad field. `where` names the object in the messages.
 */
export function layoutDifferences(
  codec: { readonly name: string; readonly size: number; readonly fields: readonly FieldSpec[] },
  compiled: CompiledStruct | null,
  where: string,
): string[] {
  const s = codec.name;
  if (!compiled) return [`${s}: a codec in abi.ts, but ${where} has no struct ${s}`];
  const out: string[] = [];
  if (codec.size !== compiled.size) out.push(`${s}: ${codec.size} bytes in abi.ts, ${compiled.size} in ${where}`);
  const unmatched = new Map(codec.fields.map((f) => [f.name, f]));
  let end = 0;
  for (const m of compiled.members) {
    const at = `${s}.${m.name}`;
    if (m.bitfield_bits !== 0 || m.offset_bits % 8 !== 0) {
      out.push(`${at}: a bitfield in ${where}, which a codec cannot address`);
      continue;
    }
    const offset = m.offset_bits / 8;
    if (offset > end) out.push(`${s}: bytes ${end}-${offset - 1} are padding the compiler added before ${m.name}; declare a pad field`);
    end = Math.max(end, offset + m.size);
    const f = unmatched.get(m.name);
    if (!f) {
      out.push(`${at}: offset ${offset}, ${m.size} bytes in ${where}, missing from the codec in abi.ts`);
      continue;
    }
    unmatched.delete(m.name);
    if (f.offset !== offset || f.size !== m.size) {
      out.push(`${at}: offset ${f.offset}, ${f.size} bytes in abi.ts; offset ${offset}, ${m.size} bytes in ${where}`);
    }
  }
  if (end < compiled.size) out.push(`${s}: bytes ${end}-${compiled.size - 1} are padding the compiler added at the end; declare a pad field`);
  for (const f of unmatched.values()) out.push(`${s}.${f.name}: in the codec in abi.ts, not a field of ${s} in ${where}`);
  return out;
}
