"""Reproduce Vigil's measured counts with vigil_sim (no grouping, service grouping, by_check for IDS)."""
import streams as S, engine as E, vigil_sim as V, time
ait = S.load_ait(); ms = S.load_ms()
svc = lambda k: 'service=' + k[2]
def bycheck(k):
    return 'check=' + k[3] if k[3][:2] in ('W-','S-','A-') else 'service=' + k[2]
for name, s in (('AIT', ait), ('MS', ms)):
    for gname, gk in (('none', None), ('service', svc), ('by_check', bycheck)):
        t = time.time()
        sim = V.Sim(s, 5*S.MIN, E.ids_oneshot, gk).run()
        sc = V.scored(s, sim)
        print(gname, S.fmt(s, sc), 'updates', sim.updates, '%.1fs' % (time.time()-t))
