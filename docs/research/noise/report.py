"""Regenerates every number of the report: python3 report.py > report.txt (about 20 s, one core)."""
import streams as S, engine as E, vigil_sim as V, novelty_sim as N
from streams import HOUR, MIN
D = 24 * HOUR
ait = S.load_ait(); ms = S.load_ms()

def passes(a, m, need_phases=10):
    return (a['pages'] < 254 and a['nphases'] >= need_phases,
            m['pages'] < 27 and all(o[0] == 1 and o[1] >= 1 for o in m['outages']))

print('== 1. Simulator against Vigil measured counts (BENCHMARKS 18:07 / 18:42)')
for s in (ait, ms):
    for gname, gk in (('no grouping', None), ('grouping by service', lambda k: 'service=' + k[2]),
                      ('by_check for IDS', lambda k: ('check=' + k[3]) if k[3][:2] in ('W-', 'S-', 'A-') else 'service=' + k[2])):
        sim = V.Sim(s, 5 * MIN, E.ids_oneshot, gk).run()
        print('  %-22s %s  (updates %d)' % (gname, S.fmt(s, V.scored(s, sim)), sim.updates))
a, _ = N.run(ait, by='fp', W=0, G=0, wait=0, quiet=10 * MIN)
print('  no grouping, quiet 10m', S.fmt(ait, a), '(Vigil measured 1,675)')
print('  measured: AIT 2261/10, 1844/6 (service), 2172/10 (by_check); MS 74 (18/17, 5/4), 41 (2/1, 1/1)')

print('\n== 2. Best rules')
rules = [
    ('N  W=5h, G=5m, wait=30s', dict(by='service', W=5 * HOUR, G=5 * MIN)),
    ('N  W=48h (global)', dict(by='service', W=48 * HOUR, G=0)),
    ('P  W=5h one-shot / 48h stateful', dict(by='service', W=0, G=0, w_of=lambda k: int((5 if k[3][:2] in ('W-', 'S-', 'A-') else 48) * HOUR))),
    ('D  W0=5h c=16 L=7d (window)', dict(by='service', W=5 * HOUR, G=0, duty_c=16, duty_l=7 * D)),
    ('D  W0=5h c=16 tau=7d (decayed)', dict(by='service', W=5 * HOUR, G=0, duty_c=16, duty_tau=7 * D)),
    ('D  W0=5h c=16 tau=7d wait=120s', dict(by='service', W=5 * HOUR, G=0, duty_c=16, duty_tau=7 * D, wait=120_000)),
    ('D  W0=5h c=16 tau=7d by host', dict(by='host', W=5 * HOUR, G=0, duty_c=16, duty_tau=7 * D)),
]
for name, kw in rules:
    a, _ = N.run(ait, **kw); m, _ = N.run(ms, **kw)
    pa, pm = passes(a, m, 9)
    print('  %-34s %s | %s | AIT<254 & 9/10: %s, MS target: %s' % (name, S.fmt(ait, a), S.fmt(ms, m), pa, pm))

print('\n== 3. Rule D sensitivity (decayed, by service, G=0, wait=30s): AIT pages/phases, MS pages ("!" = a target missed, AIT judged at 9/10)')
for W0 in (2, 3, 4, 5, 5.4, 5.5):
    for tau in (2, 3, 7):
        line = []
        for c in (4, 8, 12, 16, 24, 32):
            kw = dict(by='service', W=int(W0 * HOUR), G=0, duty_c=c, duty_tau=tau * D)
            a, _ = N.run(ait, **kw); m, _ = N.run(ms, **kw)
            pa, pm = passes(a, m, 9)
            line.append('c=%d:%d/%d,%d%s' % (c, a['pages'], a['nphases'], m['pages'], '' if pa and pm else '!'))
        print('  W0=%.1fh tau=%dd  ' % (W0, tau) + '  '.join(line))
print('  wait / G at W0=5h c=16 tau=7d:')
for kw2 in (dict(wait=0), dict(wait=10_000), dict(wait=60_000), dict(wait=120_000), dict(wait=300_000), dict(wait=480_000),
            dict(G=5 * MIN), dict(G=6 * MIN), dict(linger=HOUR)):
    kw = dict(by='service', W=5 * HOUR, G=0, duty_c=16, duty_tau=7 * D); kw.update(kw2)
    a, _ = N.run(ait, **kw); m, _ = N.run(ms, **kw)
    print('    %-20s %s | %s' % (kw2, S.fmt(ait, a), S.fmt(ms, m)))

print('\n== 4. network_scans')
sp = S.phase_spans(ait)
rows = [(ait.keys[k][1], ait.keys[k][3], ait.phases[t]) for at, k, f, t in ait.items if sp[1][0] <= at <= sp[1][1] + 5 * MIN]
print('  rows in [first, last+5m] of network_scans:', sorted(set(rows)), len(rows))
for name, kw in (('N W=1h (ClamAV hourly gap counts as novel)', dict(by='service', W=HOUR, G=5 * MIN)),
                 ('D + W-Sys-Cav always novel, wait 30s', dict(by='service', W=5 * HOUR, G=0, duty_c=16, duty_tau=7 * D, w_of=lambda k: 0 if k[3] == 'W-Sys-Cav' else None)),
                 ('D + W-Sys-Cav always novel, wait 300s', dict(by='service', W=5 * HOUR, G=0, duty_c=16, duty_tau=7 * D, wait=300_000, w_of=lambda k: 0 if k[3] == 'W-Sys-Cav' else None))):
    a, _ = N.run(ait, **kw)
    print('  %-44s %s' % (name, S.fmt(ait, a)))
