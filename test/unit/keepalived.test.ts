// keepalived.test.ts: keepalived.conf import: services and reals converted, and every unmapped statement listed with its line and reason.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { convertKeepalived, parseKeepalived } from '../../src/core/keepalived';
import { repoRoot } from '../../src/adapters/native';

const CONF = `! Configuration File for keepalived
global_defs {
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    state MASTER
    interface eth1
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.100
    }
}

virtual_server 10.0.0.100 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    persistence_timeout 50
    protocol TCP
    sorry_server 10.0.0.200 80
    quorum 1

    real_server 10.0.0.11 80 {
        weight 3
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 3
            retry 3
            delay_before_retry 3
        }
    }
    real_server 10.0.0.12 80 {
        weight 1
        HTTP_GET {
            url {
              path /healthz
              status_code 200
            }
            connect_timeout 3
        }
    }
}

virtual_server 10.0.0.100 53
{
    lvs_sched mh
    lvs_method DR
    protocol UDP
    real_server 10.0.0.11 53 {
        SSL_GET { connect_timeout 2 }
        MISC_CHECK {
            misc_path "/usr/local/bin/check dns # not a comment"
        }
    }
    real_server 10.0.0.13 53 { weight 0 }
}

virtual_server 10.0.0.101 80 {
    lb_kind NAT
    real_server 192.168.1.1 8080 { weight 1 }
}

virtual_server fwmark 7 {
    lb_kind DR
}
`;

test('blocks, braces on their own line, quoted strings with # inside', () => {
  const nodes = parseKeepalived(CONF);
  assert.deepEqual(nodes.map((n) => [n.key, n.line, n.endLine]), [
    ['global_defs', 2, 4], ['vrrp_instance', 6, 13], ['virtual_server', 15, 43], ['virtual_server', 45, 57], ['virtual_server', 59, 62], ['virtual_server', 64, 66],
  ]);
  const misc = nodes[3]!.children![3]!.children![1]!;
  assert.deepEqual([misc.key, misc.children![0]!.args], ['MISC_CHECK', ['/usr/local/bin/check dns # not a comment']]);
  assert.throws(() => parseKeepalived('virtual_server 1.2.3.4 80 {\n'), /line 1: "\{" is never closed/);
  assert.throws(() => parseKeepalived('}\n'), /line 1: "\}" without a matching "\{"/);
});

test('services and reals map to a config the daemon accepts', () => {
  const r = convertKeepalived(CONF);
  assert.equal(r.config.interface, 'eth1', 'from the vrrp_instance');
  assert.deepEqual(
    r.config.services.map((s) => [s.vip, s.port, s.protocol, s.scheduler, s.sched_flags, s.persistence, s.reals.map((x) => [x.address, x.weight])]),
    [
      ['10.0.0.100', 80, 'tcp', 'wrr', undefined, { timeout: 50, netmask: '255.255.255.255' }, [['10.0.0.11', 3], ['10.0.0.12', 1]]],
      // keepalived's mh has no flags unless mh-port/mh-fallback are given; xlvs's default would be mh-port, so [] is written.
      ['10.0.0.100', 53, 'udp', 'mh', [], undefined, [['10.0.0.11', 1], ['10.0.0.13', 0]]],
    ],
  );
  assert.deepEqual(parseConfig(r.yaml), r.config);
  assert.equal(convertKeepalived(CONF, { iface: 'bond0' }).config.interface, 'bond0');
});

test('everything not mapped is listed with its line and the reason', () => {
  const got = convertKeepalived(CONF).unmapped.map((u) => `${u.line}${u.endLine ? `-${u.endLine}` : ''} ${u.what}: ${u.reason}`);
  const expect: [string, RegExp][] = [
    ['2-4 global_defs', /keepalived's own setting/],
    ['6-13 vrrp_instance VI_1', /VRRP .* stays with keepalived/],
    ['16 delay_loop 6', /health checks are not in xlvs yet/],
    ['21 sorry_server 10.0.0.200 80', /no sorry server in xlvs yet/],
    ['22 quorum 1', /quorum needs health checks/],
    ['26 inhibit_on_failure', /health checks are not in xlvs yet/],
    ['27-31 TCP_CHECK', /health checks are not in xlvs yet/],
    ['35-41 HTTP_GET', /health checks are not in xlvs yet/],
    ['51 SSL_GET', /health checks/],
    ['52-54 MISC_CHECK', /health checks/],
    ['59-62 virtual_server 10.0.0.101 80', /lb_kind NAT \(line 60\): xlvs is a direct-routing \(DR\) director/],
    ['64-66 virtual_server fwmark 7', /firewall-mark services are not in xlvs/],
  ];
  assert.equal(got.length, expect.length, got.join('\n'));
  expect.forEach(([head, re], i) => {
    assert.ok(got[i]!.startsWith(`${head}: `), `${got[i]} should start with ${head}`);
    assert.match(got[i]!, re);
  });
});

test('no interface anywhere: refused, naming the option', () => {
  assert.throws(() => convertKeepalived('virtual_server 10.0.0.100 80 {\n}\n'), (e: unknown) => e instanceof UsageError && /--interface/.test(e.message));
});

test('xlvs import keepalived: YAML on stdout, FILE:LINE lines on stderr, exit 0', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-ka-'));
  try {
    const f = path.join(dir, 'keepalived.conf');
    fs.writeFileSync(f, CONF);
    const r = spawnSync(path.join(repoRoot(), 'bin', 'xlvs'), ['import', 'keepalived', f], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseConfig(r.stdout).services.length, 2);
    assert.ok(r.stderr.includes(`${f}:21: not mapped: sorry_server 10.0.0.200 80: `), r.stderr);
    assert.ok(r.stderr.includes(`${f}:27-31: not mapped: TCP_CHECK: health checks are not in xlvs yet`), r.stderr);
    assert.match(r.stderr, /12 statement\(s\) not mapped/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('no lb_kind (keepalived defaults to NAT) is converted but flagged; nat_mask and a NAT real are listed', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 80 {\n' +
      '    nat_mask 255.255.255.0\n' +
      '    real_server 10.0.0.11 80 { weight 2 }\n' +
      '    real_server 10.0.0.12 80 {\n' +
      '        lvs_method NAT\n' +
      '    }\n' +
      '}\n',
    { iface: 'eth0' },
  );
  assert.deepEqual(r.config.services[0]!.reals, [{ address: '10.0.0.11', weight: 2 }]);
  assert.deepEqual(
    r.unmapped.map((u) => [u.line, u.what]),
    [[1, 'virtual_server 10.0.0.100 80'], [2, 'nat_mask 255.255.255.0'], [4, 'real_server 10.0.0.12 80']],
  );
  assert.match(r.unmapped[0]!.reason, /keepalived's default is NAT\): converted as DR/);
  assert.match(r.unmapped[2]!.reason, /lvs_method NAT \(line 5\): only direct routing \(DR\) reals are converted/);
});

test('every scheduler xlvs has, scheduler flags, persistence, port 0 and thresholds are mapped; the rest is listed', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 80 {\n' + // 1
      '    lb_kind DR\n' +
      '    lvs_sched sh\n' +
      '    sh-port\n' +
      '    sh-fallback\n' + // 5
      '    mh-port\n' +
      '    persistence_timeout 600\n' +
      '    persistence_granularity 255.255.255.0\n' +
      '    real_server 10.0.0.11 80 {\n' +
      '        uthreshold 100\n' + // 10
      '        lthreshold 50\n' +
      '    }\n' +
      '    real_server 10.0.0.12 80 {\n' +
      '        uthreshold 10\n' +
      '        lthreshold 20\n' + // 15
      '    }\n' +
      '}\n' +
      'virtual_server 10.0.0.100 0 {\n' +
      '    lb_kind DR\n' +
      '    lb_algo lc\n' + // 20
      '    real_server 10.0.0.11 0 { weight 2 }\n' +
      '}\n' +
      'virtual_server 10.0.0.101 443 {\n' +
      '    lb_kind DR\n' +
      '    lvs_sched mh\n' + // 25
      '    flag-2\n' +
      '    hashed\n' +
      '    persistence_granularity 255.255.0.0\n' +
      '}\n' +
      'virtual_server 10.0.0.102 80 {\n' + // 30
      '    lb_kind DR\n' +
      '    lvs_sched lblcr\n' +
      '    persistence_granularity 255.0.255.0\n' +
      '    flag-1\n' +
      '}\n' + // 35
      'virtual_server 10.0.0.103 80 {\n' +
      '    lb_kind DR\n' +
      '    persistence_timeout\n' +
      '    real_server 10.0.0.11 80 { lthreshold 5 }\n' +
      '}\n', // 40
    { iface: 'eth0' },
  );
  assert.deepEqual(
    r.config.services.map((s) => [`${s.vip}:${s.port}`, s.scheduler, s.sched_flags, s.persistence, s.reals]),
    [
      ['10.0.0.100:80', 'sh', ['sh-port', 'sh-fallback'], { timeout: 600, netmask: '255.255.255.0' }, [
        { address: '10.0.0.11', weight: 1, upper_threshold: 100, lower_threshold: 50 },
        { address: '10.0.0.12', weight: 1, upper_threshold: 10 },
      ]],
      ['10.0.0.100:0', 'lc', undefined, { timeout: 360, netmask: '255.255.255.255' }, [{ address: '10.0.0.11', weight: 2 }]],
      ['10.0.0.101:443', 'mh', ['mh-port'], { timeout: 360, netmask: '255.255.0.0' }, []],
      ['10.0.0.102:80', 'wlc', undefined, undefined, []],
      ['10.0.0.103:80', 'wlc', undefined, { timeout: 360, netmask: '255.255.255.255' }, [{ address: '10.0.0.11', weight: 1 }]],
    ],
  );
  assert.deepEqual(
    r.unmapped.map((u) => `${u.line} ${u.what}: ${u.reason}`),
    [
      '6 mh-port: mh-port is a flag of mh, not of the service\'s scheduler sh (keepalived ignores it too)',
      '15 lthreshold 20: lthreshold 20 is above uthreshold 10 (IPVS refuses that); the real keeps only its uthreshold',
      '18 virtual_server 10.0.0.100 0: port 0 (every port) without persistence_timeout: keepalived makes it persistent (360 s), and so does the import',
      '27 hashed: hashed is a flag IPVS keeps for itself (setting it has no effect)',
      '32 lvs_sched lblcr: scheduler lblcr is not in xlvs; the service uses wlc (keepalived\'s default)',
      '33 persistence_granularity 255.0.255.0: persistence_granularity 255.0.255.0 is not an IPv4 netmask of contiguous ones (e.g. 255.255.255.0)',
      '34 flag-1: flag-1 means nothing to scheduler wlc (flag-1 and flag-2 are the fallback and port flags of sh and mh)',
      '39 lthreshold 5: lthreshold 5 needs a uthreshold at least as high (IPVS refuses it alone)',
    ],
  );
  // The YAML is a config the daemon takes as it is.
  assert.deepEqual(parseConfig(r.yaml), r.config);
});

test('virtual_server with no port is port 0; unknown schedulers and bad persistence values are listed', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 {\n' +
      '    lb_kind DR\n' +
      '    lvs_sched fancy\n' +
      '    persistence_timeout 0\n' +
      '    persistence_timeout 120\n' +
      '}\n',
    { iface: 'eth0' },
  );
  assert.deepEqual(r.config.services.map((s) => [s.port, s.scheduler, s.persistence]), [[0, 'wlc', { timeout: 120, netmask: '255.255.255.255' }]]);
  assert.deepEqual(r.unmapped.map((u) => [u.line, u.reason]), [
    [3, 'unknown scheduler fancy (keepalived ignores it too); the service uses wlc'],
    [4, 'persistence_timeout 0 is outside 1..2678400 seconds'],
  ]);
});
