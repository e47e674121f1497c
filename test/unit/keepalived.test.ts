// SPDX-License-Identifier: Apache-2.0
// keepalived.test.ts: keepalived.conf import: services, reals, health checks, sorry server and quorum converted, and every unmapped statement or approximation listed with its line and reason.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../src/adapters/native';
import { unmappedLine } from '../../src/cli/commands/import';
import { parseConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { parseKeepalived } from '../../src/core/keepalived-parse';
import { convertKeepalived } from '../../src/core/keepalived-services';
import type { Unmapped } from '../../src/core/keepalived-skips';

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
  assert.deepEqual(
    nodes.map((n) => [n.key, n.line, n.endLine]),
    [
      ['global_defs', 2, 4],
      ['vrrp_instance', 6, 13],
      ['virtual_server', 15, 43],
      ['virtual_server', 45, 57],
      ['virtual_server', 59, 62],
      ['virtual_server', 64, 66],
    ],
  );
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
      [
        '10.0.0.100',
        80,
        'tcp',
        'wrr',
        undefined,
        { timeout: 50, netmask: '255.255.255.255' },
        [
          ['10.0.0.11', 3],
          ['10.0.0.12', 1],
        ],
      ],
      // keepalived's mh has no flags unless mh-port/mh-fallback are given; xlvs's default would be mh-port, so [] is written.
      [
        '10.0.0.100',
        53,
        'udp',
        'mh',
        [],
        undefined,
        [
          ['10.0.0.11', 1],
          ['10.0.0.13', 0],
        ],
      ],
    ],
  );
  // One real's TCP_CHECK is the service's check; the other real's HTTP_GET overrides what differs.
  const web = r.config.services[0]!;
  assert.deepEqual(web.check, { type: 'tcp', mode: 'direct', interval_ms: 6000, timeout_ms: 3000, rise: 1, fall: 4, jitter_ms: 6000 });
  assert.deepEqual(web.reals[1]!.check, { type: 'http', fall: 2, path: '/healthz' });
  assert.deepEqual([web.on_down, web.sorry_server, web.quorum], ['keep', '10.0.0.200', { min: 1, hysteresis: 0 }]);
  assert.deepEqual(parseConfig(r.yaml), r.config);
  assert.equal(convertKeepalived(CONF, { iface: 'bond0' }).config.interface, 'bond0');
});

test('everything not mapped is listed with its line and the reason', () => {
  const got = convertKeepalived(CONF).unmapped.map((u) => `${u.line}${u.endLine ? `-${u.endLine}` : ''} ${u.what}: ${u.reason}`);
  const expect: [string, RegExp][] = [
    ['2-4 global_defs', /keepalived's own setting/],
    ['6-13 vrrp_instance VI_1', /VRRP .* stays with keepalived/],
    ['26 inhibit_on_failure', /weight to 0 instead of removing it.*on_down: keep/],
    ['27-31 TCP_CHECK', /converted with mode: direct.*mode: dr .* is recommended/],
    ['30 delay_before_retry 3', /no retry delay/],
    ['51 SSL_GET', /no url with a path: keepalived ignores this SSL_GET too/],
    ['52-54 MISC_CHECK', /virtual_server's delay_loop \(60 s\), is not shorter than delay_loop 60 s: xlvs needs timeout_ms < interval_ms/],
    ['56 real_server 10.0.0.13 53', /keepalived does not check it .* xlvs checks every real of a checked service/],
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
  assert.throws(
    () => convertKeepalived('virtual_server 10.0.0.100 80 {\n}\n'),
    (e: unknown) => e instanceof UsageError && /--interface/.test(e.message),
  );
});

test('xlvs import keepalived: dropped services refuse the import (exit 2, nothing on stdout) unless --allow-partial', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-ka-'));
  try {
    const f = path.join(dir, 'keepalived.conf');
    fs.writeFileSync(f, CONF);
    const run = (...args: string[]) => spawnSync(path.join(repoRoot(), 'bin', 'xlvs'), ['import', 'keepalived', ...args, f], { encoding: 'utf8' });
    const refused = run();
    assert.equal(refused.status, 2, refused.stderr);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /not printing the config: 2 services and 0 statements dropped \(listed above\); .* --allow-partial/);
    const r = run('--allow-partial');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseConfig(r.stdout).services.length, 2);
    assert.ok(r.stderr.includes(`${f}:26: approximated as on_down: keep: inhibit_on_failure: keepalived sets`), r.stderr);
    assert.ok(r.stderr.includes(`${f}:27-31: note: TCP_CHECK: converted with mode: direct`), r.stderr);
    assert.ok(r.stderr.includes(`${f}:59-62: dropped: virtual_server 10.0.0.101 80: lb_kind NAT`), r.stderr);
    assert.ok(r.stderr.includes(`${f}:2-4: ignored: global_defs: `), r.stderr);
    assert.match(r.stderr, /xlvs: imported 2 services \(2 approximated\), dropped 2 services and 0 statements; 4 statements approximated, 3 ignored\n$/);
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
    [
      [1, 'virtual_server 10.0.0.100 80'],
      [2, 'nat_mask 255.255.255.0'],
      [4, 'real_server 10.0.0.12 80'],
    ],
  );
  assert.match(r.unmapped[0]!.reason, /keepalived's default is NAT\): check that the real servers hold the VIP/);
  assert.deepEqual([r.unmapped[0]!.kind, r.unmapped[0]!.as], ['approximated', 'a direct-routing (DR) service']);
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
      [
        '10.0.0.100:80',
        'sh',
        ['sh-port', 'sh-fallback'],
        { timeout: 600, netmask: '255.255.255.0' },
        [
          { address: '10.0.0.11', weight: 1, upper_threshold: 100, lower_threshold: 50 },
          { address: '10.0.0.12', weight: 1, upper_threshold: 10 },
        ],
      ],
      ['10.0.0.100:0', 'lc', undefined, { timeout: 360, netmask: '255.255.255.255' }, [{ address: '10.0.0.11', weight: 2 }]],
      ['10.0.0.101:443', 'mh', ['mh-port'], { timeout: 360, netmask: '255.255.0.0' }, []],
      ['10.0.0.102:80', 'wlc', undefined, undefined, []],
      ['10.0.0.103:80', 'wlc', undefined, { timeout: 360, netmask: '255.255.255.255' }, [{ address: '10.0.0.11', weight: 1 }]],
    ],
  );
  assert.deepEqual(
    r.unmapped.map((u) => `${u.line} ${u.what}: ${u.reason}`),
    [
      "6 mh-port: mh-port is a flag of mh, not of the service's scheduler sh (keepalived ignores it too)",
      '15 lthreshold 20: lthreshold 20 is above uthreshold 10 (IPVS refuses that); the real keeps only its uthreshold',
      '18 virtual_server 10.0.0.100 0: port 0 (every port) without persistence_timeout: keepalived makes it persistent (360 s), and so does the import',
      '27 hashed: hashed is a flag IPVS keeps for itself (setting it has no effect)',
      "32 lvs_sched lblcr: scheduler lblcr is not in xlvs; the service uses wlc (keepalived's default)",
      '33 persistence_granularity 255.0.255.0: persistence_granularity 255.0.255.0 is not an IPv4 netmask of ' +
        'contiguous ones (e.g. 255.255.255.0; keepalived refuses it too)',
      '34 flag-1: flag-1 means nothing to scheduler wlc (flag-1 and flag-2 are the fallback and port flags of sh and mh)',
      '39 lthreshold 5: lthreshold 5 needs a uthreshold at least as high (IPVS refuses it alone)',
    ],
  );
  // The YAML is a config the daemon takes as it is.
  assert.deepEqual(parseConfig(r.yaml), r.config);
});

test('virtual_server with no port is port 0; unknown schedulers and bad persistence values are listed', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 {\n' + '    lb_kind DR\n' + '    lvs_sched fancy\n' + '    persistence_timeout 0\n' + '    persistence_timeout 120\n' + '}\n',
    { iface: 'eth0' },
  );
  assert.deepEqual(
    r.config.services.map((s) => [s.port, s.scheduler, s.persistence]),
    [[0, 'wlc', { timeout: 120, netmask: '255.255.255.255' }]],
  );
  assert.deepEqual(
    r.unmapped.map((u) => [u.line, u.reason]),
    [
      [3, 'unknown scheduler fancy (keepalived ignores it too); the service uses wlc'],
      [4, 'persistence_timeout 0 is outside 1..2678400 seconds (keepalived refuses it too)'],
    ],
  );
});

/** keepalived's HTTP status codes when a url names none. */
// keepalived's default status_code, kept as the range it is.
const KA_STATUS = ['200-299'];

/** An entry as the import's stderr line shows it, without the file name. */
const shown = (u: Unmapped) => unmappedLine('', u).replace(/^:/, '');

const SITE = `! keepalived.conf of a two-director web site
global_defs {
    router_id LB1
}

SSL {
    ca /etc/keepalived/ca.pem
}

vrrp_instance VI_WEB {
    state MASTER
    interface bond0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        192.0.2.10
    }
}

virtual_server 192.0.2.10 80 {
    delay_loop 5
    lb_algo wlc
    lb_kind DR
    protocol TCP
    inhibit_on_failure
    sorry_server 192.0.2.99 8080
    quorum 2
    hysteresis 1
    quorum_up "/usr/local/sbin/route-ctl announce 192.0.2.10"
    quorum_down "/usr/local/sbin/route-ctl withdraw 192.0.2.10"

    real_server 192.0.2.21 80 {
        weight 1
        HTTP_GET {
            url {
                path /health
                status_code 200-204 301
            }
            url {
                path /ready
                digest 9b3a0c85a887a256d6939da88aabd8cd
            }
            connect_timeout 2
            retry 2
            delay_before_retry 2
        }
    }
    real_server 192.0.2.22 80 {
        weight 1
        HTTP_GET {
            url {
                path /health
                status_code 200-204 301
            }
            connect_timeout 2
            retry 2
        }
    }
    real_server 192.0.2.23 80 {
        weight 1
        TCP_CHECK {
            connect_port 8080
            connect_timeout 2
        }
    }
}

virtual_server 192.0.2.10 443 {
    delay_loop 10
    lvs_sched mh
    lvs_method DR
    protocol TCP
    alpha
    omega
    real_server 192.0.2.21 443 {
        SSL_GET {
            url { path /health }
            virtualhost www.example.com
            enable_sni
            connect_timeout 3
        }
    }
    real_server 192.0.2.22 443 {
        SSL_GET {
            url { path /health }
            virtualhost www.example.com
            enable_sni
            connect_timeout 3
        }
    }
}

virtual_server 192.0.2.10 3306 {
    delay_loop 3
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.0.2.31 3306 {
        MISC_CHECK {
            misc_path "/usr/local/bin/mysql-check --host 192.0.2.31 'replica lag'"
            misc_timeout 2
            misc_dynamic
        }
    }
    real_server 192.0.2.32 3306 {
        MISC_CHECK {
            misc_path "/usr/local/bin/mysql-check --host 192.0.2.32 'replica lag'"
            misc_timeout 2
        }
    }
}
`;

test('health checks, inhibit_on_failure, sorry server and quorum: the exact config', () => {
  const r = convertKeepalived(SITE);
  assert.deepEqual(r.config.services, [
    {
      vip: '192.0.2.10',
      port: 80,
      protocol: 'tcp',
      scheduler: 'wlc',
      maglev_size: 65537,
      reals: [
        { address: '192.0.2.21', weight: 1 },
        // Same check as the service's (a second url and delay_before_retry are listed, not converted).
        { address: '192.0.2.22', weight: 1 },
        // keepalived's retry 1 (the default) is fall 2: down after the first failure and one retry.
        { address: '192.0.2.23', weight: 1, check: { type: 'tcp', fall: 2, port: 8080 } },
      ],
      check: {
        type: 'http',
        mode: 'direct',
        interval_ms: 5000,
        timeout_ms: 2000,
        rise: 1,
        fall: 3,
        jitter_ms: 5000,
        path: '/health',
        status: ['200-204', 301],
      },
      on_down: 'keep',
      // keepalived: lost below weight 2 - 1, regained at 2 + 1; every real weighs 1.
      quorum: {
        min: 1,
        hysteresis: 2,
        up: ['/usr/local/sbin/route-ctl', 'announce', '192.0.2.10'],
        down: ['/usr/local/sbin/route-ctl', 'withdraw', '192.0.2.10'],
      },
      sorry_server: '192.0.2.99',
    },
    {
      vip: '192.0.2.10',
      port: 443,
      protocol: 'tcp',
      scheduler: 'mh',
      sched_flags: [],
      maglev_size: 65537,
      reals: [
        { address: '192.0.2.21', weight: 1 },
        { address: '192.0.2.22', weight: 1 },
      ],
      // alpha: every real starts down; keepalived never verifies the certificate.
      check: {
        type: 'https',
        mode: 'direct',
        interval_ms: 10000,
        timeout_ms: 3000,
        rise: 1,
        fall: 2,
        jitter_ms: 10000,
        initial: 'down',
        path: '/health',
        status: KA_STATUS,
        host: 'www.example.com',
        sni: 'www.example.com',
        verify: false,
      },
    },
    {
      vip: '192.0.2.10',
      port: 3306,
      protocol: 'tcp',
      scheduler: 'rr',
      maglev_size: 65537,
      reals: [
        { address: '192.0.2.31', weight: 1 },
        { address: '192.0.2.32', weight: 1, check: { argv: ['/usr/local/bin/mysql-check', '--host', '192.0.2.32', 'replica lag'] } },
      ],
      // MISC_CHECK's retry defaults to 0: the first failure takes the real down.
      check: {
        type: 'exec',
        mode: 'direct',
        interval_ms: 3000,
        timeout_ms: 2000,
        rise: 1,
        fall: 1,
        jitter_ms: 3000,
        argv: ['/usr/local/bin/mysql-check', '--host', '192.0.2.31', 'replica lag'],
      },
    },
  ]);
  assert.deepEqual(parseConfig(r.yaml), r.config);
  // Lists of plain values stay on one line.
  assert.ok(r.yaml.includes('      status: [200-204, 301]\n'), r.yaml);
  // The range stays a range, and the YAML reads back as the config it came from.
  assert.deepEqual(parseConfig(r.yaml).services[0]!.check?.status, ['200-204', 301]);
});

test('health checks, inhibit_on_failure, sorry server and quorum: every approximation listed', () => {
  assert.deepEqual(convertKeepalived(SITE).unmapped.map(shown), [
    "2-4: ignored: global_defs: global_defs is keepalived's own setting, not a load-balancing rule",
    "6-8: ignored: SSL: xlvs's https checks present no client certificate; like keepalived, which never verifies " +
      "the server's certificate, they are converted with verify: false",
    '10-18: ignored: vrrp_instance VI_WEB: VRRP (moving the VIP between directors) stays with keepalived; run it alongside xlvs with manage_vips: false',
    "25: approximated as on_down: keep: inhibit_on_failure: keepalived sets a failed real's weight to 0 instead of " +
      "removing it, so its connections go on; xlvs keeps a down real's connections unless on_down: expire, and the service says on_down: keep",
    '26: approximated as a sorry server used while every real is down: sorry_server 192.0.2.99 8080: direct ' +
      "routing delivers to the clients' own port, 80, not 8080 (keepalived's DR did too); keepalived puts it in place of every real once no live weight is left and keeps it until that weight is back to 3; xlvs gives it new connections only while every real is down",
    '27: approximated as quorum min 1, hysteresis 2: quorum 2: keepalived weighs the live reals: quorum is lost ' +
      'when their weight falls below 1 and regained when it reaches 3 (each real weighs 1); xlvs counts live reals',
    '39-42: dropped: url: xlvs checks one URL per real, here the url of line 35; keepalived also needed this one to pass',
    '45: approximated as the next check one interval (delay_loop, 5 s) after a failure: delay_before_retry 2: xlvs has no retry delay',
    "61-64: note: TCP_CHECK: converted with mode: direct, as keepalived connects to the real's own address; mode: " +
      "dr (xlvs's default for a tcp check: a SYN to VIP:port at the real's MAC, the path clients take) also fails a real that lost the VIP, and is recommended",
    '74: dropped: omega: xlvs runs no hooks when it stops',
    '102: approximated as exit 0 up, any other exit down: misc_dynamic: xlvs takes no weights from exit codes: ' +
      'exit 0 is up and anything else down, so a script that exits 2..255 for "up, weight N" keeps its real down; make it exit 0 when up',
  ]);
});

test('checkers xlvs cannot run, UDP/DNS checks, connect_ip, port 0, unequal weights and shell syntax', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 53 {\n' + // 1
      '    lb_kind DR\n' +
      '    protocol UDP\n' +
      '    delay_loop 2\n' +
      '    retry 2\n' + // 5
      '    real_server 10.0.0.11 53 {\n' +
      '        DNS_CHECK {\n' +
      '            type CNAME\n' +
      '            name example.com\n' +
      '        }\n' + // 10
      '        PING_CHECK {\n' +
      '        }\n' +
      '    }\n' +
      '    real_server 10.0.0.12 53 {\n' +
      '        PING_CHECK {\n' + // 15
      '        }\n' +
      '        DNS_CHECK {\n' +
      '            name example.com\n' +
      '            connect_timeout 1\n' +
      '        }\n' + // 20
      '    }\n' +
      '    real_server 10.0.0.13 53 {\n' +
      '        UDP_CHECK {\n' +
      '            payload 68 65 6c6c6f\n' +
      '            require_reply 6F6b\n' + // 25
      '            min_reply_length 2\n' +
      '        }\n' +
      '    }\n' +
      '    real_server 10.0.0.14 53 {\n' +
      '        delay_loop 4\n' + // 30
      '        UDP_CHECK {\n' +
      '        }\n' +
      '    }\n' +
      '}\n' +
      'virtual_server 10.0.0.100 0 {\n' + // 35
      '    lb_kind DR\n' +
      '    persistence_timeout 60\n' +
      '    quorum 3\n' +
      '    quorum_up "/bin/echo up | logger" root\n' +
      '    sorry_server 10.0.0.11\n' + // 40
      '    real_server 10.0.0.11 0 {\n' +
      '        TCP_CHECK {\n' +
      '        }\n' +
      '    }\n' +
      '    real_server 10.0.0.12 0 {\n' + // 45
      '        weight 2\n' +
      '        TCP_CHECK {\n' +
      '            connect_ip 10.0.1.12\n' +
      '            connect_port 22\n' +
      '            bindto 10.0.0.1\n' + // 50
      '        }\n' +
      '        HTTP_GET {\n' +
      '            url { path /x }\n' +
      '        }\n' +
      '    }\n' + // 55
      '}\n' +
      'virtual_server 10.0.0.101 443 {\n' +
      '    lb_kind DR\n' +
      '    virtualhost a.example.com\n' +
      '    delay_loop 0.5\n' + // 60
      '    quorum 2\n' +
      '    hysteresis 1\n' +
      '    real_server 10.0.0.11 443 {\n' +
      '        weight 10\n' +
      '        SSL_GET {\n' + // 65
      '            url { path /a\n' +
      '              regex "ok|fine"\n' +
      '              status_code 2xx 200-202\n' +
      '            }\n' +
      '            enable_sni\n' + // 70
      '            sni_name sni.example.com\n' +
      '        }\n' +
      '    }\n' +
      '    real_server 10.0.0.12 443 {\n' +
      '        weight 5\n' + // 75
      '        SSL_GET {\n' +
      '            url { path /b }\n' +
      '        }\n' +
      '    }\n' +
      '    real_server 10.0.0.13 443 {\n' + // 80
      '        HTTP_GET {\n' +
      '            url { path /c\n' +
      '                  virtualhost 10.0.0.13:8443\n' +
      '                  regex "x"\n' +
      '                  regex_no_match\n' + // 85
      '            }\n' +
      '            http_protocol 1.1\n' +
      '        }\n' +
      '    }\n' +
      '}\n', // 90
    { iface: 'eth0' },
  );
  assert.deepEqual(
    r.config.services.map((s) => [s.check, s.reals.map((x) => x.check), s.quorum, s.sorry_server]),
    [
      [
        // DNS_CHECK's retry defaults to 3, but the virtual_server says 2; its connect_timeout (5 s) is cut below the 2 s delay_loop.
        { type: 'dns', mode: 'direct', interval_ms: 2000, timeout_ms: 1999, rise: 1, fall: 3, jitter_ms: 2000, query_name: 'example.com', query_type: 'A' },
        // keepalived's DNS query type is SOA unless named; the UDP_CHECK without require_reply is not converted.
        [undefined, { timeout_ms: 1000, query_type: 'SOA' }, { type: 'udp', payload: 'hello', expect: 'ok' }, undefined],
        undefined,
        undefined,
      ],
      [
        // connect_ip stays with its real; the real whose TCP_CHECK has no port gets the service's check at its own address.
        { type: 'tcp', mode: 'direct', interval_ms: 60000, timeout_ms: 5000, rise: 1, fall: 2, jitter_ms: 60000, port: 22 },
        [undefined, { address: '10.0.1.12' }],
        { min: 2, hysteresis: 0, up: ['/bin/echo', 'up', '|', 'logger'] },
        undefined,
      ],
      [
        {
          type: 'https',
          mode: 'direct',
          interval_ms: 500,
          timeout_ms: 499,
          rise: 1,
          fall: 2,
          jitter_ms: 500,
          path: '/a',
          status: ['200-202'],
          body_regex: 'ok|fine',
          host: 'a.example.com',
          sni: 'sni.example.com',
          verify: false,
        },
        // What the service's check sets and these reals' checks do not is set back to what xlvs's default does.
        [
          undefined,
          { path: '/b', status: KA_STATUS, body_regex: '', sni: 'a.example.com' },
          { type: 'http', path: '/c', status: KA_STATUS, body_regex: '', host: '10.0.0.13:8443' },
        ],
        { min: 1, hysteresis: 0 },
        undefined,
      ],
    ],
  );
  assert.deepEqual(parseConfig(r.yaml), r.config);
  assert.deepEqual(r.unmapped.map(shown), [
    "7-10: approximated as timeout_ms 1999: DNS_CHECK: keepalived's default connect_timeout, 5 s, is not shorter " +
      'than delay_loop 2 s: xlvs needs timeout_ms < interval_ms',
    "8: approximated as query_type A: type CNAME: xlvs queries A, AAAA, NS, SOA, TXT or MX (either way the answer's rcode decides)",
    '11-12: dropped: PING_CHECK: there is no ICMP echo check in xlvs (a tcp check of the service port says more)',
    '15-16: dropped: PING_CHECK: there is no ICMP echo check in xlvs (a tcp check of the service port says more)',
    "23-27: approximated as timeout_ms 1999: UDP_CHECK: keepalived's default connect_timeout, 5 s, is not shorter " +
      'than delay_loop 2 s: xlvs needs timeout_ms < interval_ms',
    "25: approximated as expect, found anywhere in the reply: require_reply 6F6b: keepalived compares the reply's first bytes",
    '26: dropped: min_reply_length 2: xlvs does not check the length of the reply',
    "29-33: approximated as a real with the service's check: real_server 10.0.0.14 53: none of its checkers was " +
      'converted; xlvs checks every real of a checked service',
    '30: ignored: delay_loop 4: no converted health check uses it',
    '31-32: dropped: UDP_CHECK: without require_reply keepalived counts silence as up (only an ICMP error fails ' +
      "it); xlvs's udp check needs a reply, so this one is not converted",
    '38: approximated as quorum min 2, hysteresis 0: quorum 3: keepalived weighs the live reals: quorum is lost ' +
      'when their weight falls below 3 and regained when it reaches 3 (the weights (1, 2) differ: taken at their mean, 1.5); xlvs counts live reals',
    "39: approximated as a hook run as xlvs's own user: quorum_up /bin/echo up | logger root: keepalived ran it as root",
    '39: note: quorum_up /bin/echo up | logger root: it holds shell syntax (|): keepalived 2.x runs it without a ' +
      'shell, as xlvs does, so these reach the program as plain characters (keepalived 1.x ran it with /bin/sh -c; if it relies on that, write argv: [/bin/sh, -c, "..."])',
    '40: dropped: sorry_server 10.0.0.11: 10.0.0.11 is also a real of the service, which xlvs refuses: no sorry server',
    "41-44: approximated as a real with the service's check: real_server 10.0.0.11 0: none of its checkers was " +
      'converted; xlvs checks every real of a checked service',
    '42-43: dropped: TCP_CHECK: the service is port 0 (every port) and the checker names no connect_port: there is no port to check',
    "50: approximated as checks from the director's own address: bindto 10.0.0.1: xlvs checks from the director's " +
      'own address, with a source port the kernel picks',
    '52-54: dropped: HTTP_GET: xlvs runs one check per real, here the TCP_CHECK of line 47; keepalived also needed this one to pass',
    '61: approximated as quorum min 1, hysteresis 0: quorum 2: keepalived weighs the live reals: quorum is lost ' +
      'when their weight falls below 1 and regained when it reaches 3 (the weights (10, 5, 1) differ: taken at their mean, 5.33); xlvs counts live reals',
    "65-72: approximated as timeout_ms 499: SSL_GET: keepalived's default connect_timeout, 5 s, is not shorter " +
      'than delay_loop 0.5 s: xlvs needs timeout_ms < interval_ms',
    '68: ignored: status_code 2xx 200-202: 2xx is not a status code or range of 100..599 (keepalived refuses it too)',
    "76-78: approximated as timeout_ms 499: SSL_GET: keepalived's default connect_timeout, 5 s, is not shorter " +
      'than delay_loop 0.5 s: xlvs needs timeout_ms < interval_ms',
    '76-78: approximated as sni a.example.com: SSL_GET: keepalived sends no SNI without enable_sni; xlvs sends the host as the TLS server name',
    "81-88: approximated as timeout_ms 499: HTTP_GET: keepalived's default connect_timeout, 5 s, is not shorter " +
      'than delay_loop 0.5 s: xlvs needs timeout_ms < interval_ms',
    '85: dropped: regex_no_match: xlvs cannot invert body_regex: the regex is dropped',
    '87: approximated as HTTP/1.1 with Connection: close: http_protocol 1.1: xlvs sends HTTP/1.1 requests with Connection: close',
  ]);
});

test('quorum without a converted check, and sorry servers xlvs cannot use, are listed and dropped', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 80 {\n' +
      '    lb_kind DR\n' +
      '    quorum 2\n' +
      '    quorum_down /usr/bin/page-oncall\n' +
      '    sorry_server 10.0.0.50 80\n' + // 5
      '    sorry_server_lvs_method NAT\n' +
      '    sorry_server_inhibit\n' +
      '    real_server 10.0.0.11 80 {\n' +
      '        SMTP_CHECK {\n' +
      '        }\n' + // 10
      '    }\n' +
      '}\n',
    { iface: 'eth0' },
  );
  const svc = r.config.services[0]!;
  assert.deepEqual([svc.check, svc.quorum, svc.sorry_server], [undefined, undefined, undefined]);
  assert.deepEqual(
    r.unmapped.map((u) => `${u.line} ${u.what}: ${u.reason}`),
    [
      '3 quorum 2: quorum needs a health check on the service, and none was converted',
      '4 quorum_down /usr/bin/page-oncall: quorum needs a health check on the service, and none was converted',
      '5 sorry_server 10.0.0.50 80: sorry_server_lvs_method NAT (line 6): xlvs reaches a sorry server by direct routing only: no sorry server',
      '7 sorry_server_inhibit: no sorry server was converted',
      '9 SMTP_CHECK: there is no SMTP check in xlvs (an exec check can run one)',
    ],
  );
});

test('keywords and names that are JavaScript object properties are plain unknown statements, not crashes', () => {
  const names = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'];
  const body = names.map((n) => `${n} 1\n`).join('');
  const r = convertKeepalived(
    [
      body,
      'virtual_server 10.0.0.100 80 {\n    lb_kind DR\n',
      body,
      '    real_server 10.0.0.11 80 {\n',
      body,
      '        TCP_CHECK {\n',
      body,
      '        }\n        HTTP_GET {\n            url {\n                path /\n',
      body,
      '            }\n        }\n    }\n}\n',
    ].join(''),
    { iface: 'eth0' },
  );
  assert.deepEqual(
    r.config.services.map((s) => [s.vip, s.reals.map((x) => x.address), s.check?.type]),
    [['10.0.0.100', ['10.0.0.11'], 'tcp']],
  );
  for (const n of names) assert.ok(r.unmapped.filter((u) => u.what === `${n} 1`).length >= 4, `${n}: ${JSON.stringify(r.unmapped)}`);
});

test('a DR real whose port differs is kept at the service port, its checks at the port it names, and said so', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 80 {\n' +
      '    lb_kind DR\n' +
      '    real_server 10.0.0.11 8080 {\n' +
      '        TCP_CHECK {\n' +
      '        }\n' + // 5
      '    }\n' +
      '    real_server 10.0.0.12 80 {\n' +
      '        TCP_CHECK {\n' +
      '        }\n' +
      '    }\n' + // 10
      '    real_server 10.0.0.13 8080x {\n' +
      '    }\n' +
      '}\n',
    { iface: 'eth0' },
  );
  const svc = r.config.services[0]!;
  assert.deepEqual(
    svc.reals.map((x) => [x.address, x.check?.port]),
    [
      ['10.0.0.11', undefined],
      ['10.0.0.12', 80],
    ],
  );
  assert.equal(svc.check?.port, 8080, "keepalived's checker of 10.0.0.11 connects to port 8080");
  const notes = r.unmapped.map(shown);
  assert.ok(
    notes.includes(
      '3-6: note: real_server 10.0.0.11 8080: port 8080 of real 10.0.0.11 ignored: in DR the real receives the service port, 80 ' +
        "(keepalived resets it); its checks still probe port 8080, as keepalived's did",
    ),
    notes.join('\n'),
  );
  assert.ok(notes.includes('11-12: dropped: real_server 10.0.0.13 8080x: expected "real_server IP PORT" (an IPv4 or IPv6 address)'), notes.join('\n'));
});

test('an include converted from text alone (no file system) matches nothing: listed as dropped, so the import exits 2 unless --allow-partial', () => {
  const r = convertKeepalived('include /etc/keepalived/services/*.conf\nvirtual_server 10.0.0.100 80 {\n    lb_kind DR\n}\n', { iface: 'eth0' });
  assert.deepEqual(
    r.unmapped.map((u) => [u.line, u.kind, u.what]),
    [[1, 'dropped', 'include /etc/keepalived/services/*.conf']],
  );
  assert.match(r.unmapped[0]!.reason, /^nothing matches \/etc\/keepalived\/services\/\*\.conf: keepalived logs that and goes on/);
  assert.equal(r.summary.dropped, 1);
});
