"""Baseline: Vigil without grouping, per-fingerprint episodes, each open/reopen a page."""
import streams as S, engine as E

def baseline(s, quiet):
    eps, upd = E.episodes_per_fp(s, quiet, E.ids_oneshot)
    assign = [None] * len(s.items)
    pages = []
    for e in eps:
        for r in e['rows']:
            assign[r] = e['id']
        cov = [r for r in e['rows'] if s.items[r][0] <= e['start']]
        pages.append((e['start'], e['id'], cov))
    return S.score(s, pages, assign), upd, eps

if __name__ == '__main__':
    ait = S.load_ait(); ms = S.load_ms()
    print(len(ait.items), len(ait.keys), ait.phases)
    print(len(ms.items), len(ms.keys), ms.outages)
    for q in (5, 10):
        sc, upd, eps = baseline(ait, q * S.MIN)
        print('quiet', q, S.fmt(ait, sc), 'updates', upd)
    sc, upd, eps = baseline(ms, None)
    print(S.fmt(ms, sc), 'updates', upd, 'opens', sum(e['step']=='open' for e in eps), 'reopens', sum(e['step']=='reopen' for e in eps))
