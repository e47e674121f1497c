// SPDX-License-Identifier: Apache-2.0
// rng.ts: the seeded PRNG of the fuzzers (frames and configs): the same seed gives the same cases on any machine.

/** mulberry32: a 32-bit state, full period, good enough to spread cases; not for anything secret. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  /** A uint32. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** 0 <= x < 1. */
  float(): number {
    return this.u32() / 4294967296;
  }
  /** 0 <= x < n. */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** lo <= x <= hi. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 255;
    return b;
  }
}
