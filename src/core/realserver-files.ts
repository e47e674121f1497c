// SPDX-License-Identifier: Apache-2.0
// realserver-files.ts: the texts setup installs (the nft table, the sysctl.d drop-in, the systemd unit) and where --persist keeps them.

import { loAddrArgs, NFT_COMMENT, NFT_TABLE, type RsState, sysctlDotted, v4Vips } from './realserver-host';

const UNIT = 'xlvs-realserver.service';

export function persistPaths(root: string): { sysctl: string; nft: string; unit: string; wants: string } {
  const r = root === '/' ? '' : root.replace(/\/+$/, '');
  return {
    sysctl: `${r}/etc/sysctl.d/90-xlvs-realserver.conf`,
    nft: `${r}/etc/xlvs/realserver.nft`,
    unit: `${r}/etc/systemd/system/${UNIT}`,
    wants: `${r}/etc/systemd/system/multi-user.target.wants/${UNIT}`,
  };
}

function ruleComment(vip: string): string {
  return `VIP ${vip}`;
}

/** The table alone: requests for a VIP are dropped; ARP leaving dev with a VIP as sender carries nicAddress instead. */
export function renderNftTable(vips: readonly string[], dev: string, nicAddress: string): string {
  const input = vips.map((v) => `\t\tarp operation request arp daddr ip ${v} counter drop comment "${ruleComment(v)}: never answer ARP for it"`);
  const output = vips.flatMap((v) => [
    `\t\tarp operation reply arp saddr ip ${v} counter drop comment "${ruleComment(v)}: never reply for it"`,
    `\t\toifname "${dev}" arp saddr ip ${v} arp saddr ip set ${nicAddress} counter comment "${ruleComment(v)}: announce ${nicAddress} instead"`,
    `\t\tarp saddr ip ${v} counter drop comment "${ruleComment(v)}: never announce it elsewhere"`,
  ]);
  return [
    `table arp ${NFT_TABLE} {`,
    `\tcomment "${NFT_COMMENT}"`,
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    ...input,
    '\t}',
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    ...output,
    '\t}',
    '}',
    '',
  ].join('\n');
}

/** One nft transaction that creates or replaces the table whole, so there is never a half-filled table. */
export function renderNftScript(vips: readonly string[], dev: string, nicAddress: string): string {
  return `table arp ${NFT_TABLE}\ndelete table arp ${NFT_TABLE}\n${renderNftTable(vips, dev, nicAddress)}`;
}

const GENERATED = '# Written by `xlvs realserver setup --persist`; `xlvs realserver teardown` removes it.';

export function renderSysctlConf(state: RsState): string {
  return [
    GENERATED,
    '# LVS-DR: never answer ARP for the VIPs on lo, never announce them.',
    ...state.sysctls.map((s) => `${sysctlDotted(s.key)} = ${s.value}`),
    '',
  ].join('\n');
}

export function renderUnit(state: RsState): string {
  const lines = [
    GENERATED,
    '[Unit]',
    `Description=xlvs LVS-DR real server: ${state.vips.join(', ')} on lo, kept quiet on ARP`,
    // After sysctl and nftables (Debian's ruleset flushes everything when it loads), before services bind the VIPs.
    'After=systemd-sysctl.service nftables.service',
    'Before=network.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
  ];
  if (state.method === 'arp-rules' && state.nft) lines.push('ExecStart=/usr/sbin/nft -f /etc/xlvs/realserver.nft');
  for (const v of state.vips) lines.push(`ExecStart=/usr/sbin/ip ${loAddrArgs('replace', v).join(' ')}`);
  lines.push('', '[Install]', 'WantedBy=multi-user.target', '');
  return lines.join('\n');
}

/** The files --persist keeps for a state: path -> content (a symlink's content is "-> target"). */
export function persistFiles(state: RsState, root: string): { path: string; content: string; symlink?: string }[] {
  const p = persistPaths(root);
  const out: { path: string; content: string; symlink?: string }[] = [];
  if (state.method === 'sysctl' && state.sysctls.length) out.push({ path: p.sysctl, content: renderSysctlConf(state) });
  if (state.method === 'arp-rules' && state.nft)
    out.push({ path: p.nft, content: `#!/usr/sbin/nft -f\n${GENERATED}\n${renderNftScript(v4Vips(state.vips), state.dev, state.nft.nicAddress)}` });
  out.push({ path: p.unit, content: renderUnit(state) });
  out.push({ path: p.wants, content: '', symlink: `/etc/systemd/system/${UNIT}` });
  return out;
}
