// SPDX-License-Identifier: Apache-2.0
// btf.h: what a built BPF object declares, read from its ELF without loading it: a struct's layout (BTF) and its maps.
#ifndef XLVS_NATIVE_BTF_H
#define XLVS_NATIVE_BTF_H

#include <napi.h>

namespace xlvs {

// btfStruct(objPath, name): { name, size, members: [{ name, offset_bits, size, bitfield_bits }] } of the
// struct of that name in the object's BTF, as the compiler laid it out; null when there is none.
Napi::Value BtfStruct(const Napi::CallbackInfo& info);

// objectMaps(objPath): [{ name, type, keySize, valueSize, maxEntries, flags, keyType, valueType, inner }]
// as libbpf reads them before any load; keyType/valueType name a struct (else null), inner is the
// template of a map-in-map (else null).
Napi::Value ObjectMaps(const Napi::CallbackInfo& info);

}  // namespace xlvs

#endif  // XLVS_NATIVE_BTF_H
