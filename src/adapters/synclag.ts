// SPDX-License-Identifier: Apache-2.0
// synclag.ts: how far behind connection sync runs: a window of the last per-entry delays and its p50/p99.

export interface LagFigures {
  /** Entries the figures cover (the window's fill). */
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

/** The last WINDOW delays in ms (a ring): percentiles of what happened lately, not since the start. */
export class LagWindow {
  static readonly WINDOW = 8192;
  private readonly ring = new Float64Array(LagWindow.WINDOW);
  private n = 0;
  private at = 0;

  add(ms: number): void {
    this.ring[this.at] = Math.max(0, ms);
    this.at = (this.at + 1) % LagWindow.WINDOW;
    if (this.n < LagWindow.WINDOW) this.n++;
  }

  figures(): LagFigures {
    if (!this.n) return { samples: 0, p50: 0, p99: 0, max: 0 };
    const s = this.ring.slice(0, this.n).sort();
    const q = (p: number) => round(s[Math.min(this.n - 1, Math.floor(p * this.n))]!);
    return { samples: this.n, p50: q(0.5), p99: q(0.99), max: round(s[this.n - 1]!) };
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
