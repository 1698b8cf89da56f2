"""Which pages cover each AIT phase under a rule, and what triggered them."""
import streams as S, novelty_sim as N, datetime, sys
from streams import HOUR, MIN
ait = S.load_ait()
D = 24 * HOUR
sc, pages = N.run(ait, by='service', W=5 * HOUR, G=0, duty_c=16, duty_tau=7 * D)
print(S.fmt(ait, sc))
spans = S.phase_spans(ait)
f = lambda t: datetime.datetime.utcfromtimestamp(t / 1000).strftime('%d %H:%M:%S')
for p in range(1, 11):
    a, b, _ = spans[p]
    hits = []
    for i, (at, uid, cov) in enumerate(sc['covered']):
        if a <= at <= b + 5 * MIN and any(ait.items[r][3] == p for r in cov):
            trig = [sc['eps'][n] for n in sc['triggers'][i]]
            tk = sorted(set('%s@%s%s' % (ait.keys[e['fp']][3], ait.keys[e['fp']][1], '*' if ait.items[e['rows'][0]][3] == p else '') for e in trig))
            hits.append('%s %s' % (f(at), ','.join(tk)))
    print('%-22s %d pages: %s' % (ait.phases[p], len(hits), ' | '.join(hits[:4])))
