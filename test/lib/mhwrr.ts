// SPDX-License-Identifier: Apache-2.0
// mhwrr.ts: the datapath tests' pair of services on one VIP, mh (port 80) and wrr (port 81), and their reals' MACs.

/** A config of the pair: the budget and the connection-table size are the test's. */
export function mhWrrConfig(newConnBudget: number): string {
  return `
interface: eth0
conn_table_size: 65536
new_conn_budget: ${newConnBudget}
services:
  - vip: 10.0.0.100
    port: 80
    maglev_size: 251
    reals: [{ address: 10.0.0.11 }, { address: 10.0.0.12 }, { address: 10.0.0.13 }]
  - vip: 10.0.0.100
    port: 81
    scheduler: wrr
    reals: [{ address: 10.0.0.11 }, { address: 10.0.0.12 }]
`;
}

export const MH_WRR_MACS: Record<string, string> = { '10.0.0.11': '02:00:00:00:00:11', '10.0.0.12': '02:00:00:00:00:12', '10.0.0.13': '02:00:00:00:00:13' };
