"""Rule family N / D / P: novelty-triggered notifications of long-lived group incidents.

Definition (events in time order):
1. Fingerprint episodes exactly as Vigil today (engine.episodes_per_fp; validated: 2,261 AIT and
   74 MS pages without grouping): a one-shot IDS alert opens/reopens an episode that ends after
   `quiet` (5 min) without a repeat; an MS series' episode ends with its resolved event.
2. Every episode attaches to the active *unit* of its grouping key (`by`: service (default),
   host, check, fp = none). With no active unit a unit opens (same id if the key's last unit
   resolved within `reopen` = 1 h). A unit is active while any of its episodes is, plus `linger`.
3. An episode start of fingerprint f at t is *novel* when f had no firing event in (t - W_f, t)
   (a first event ever is novel), where
     rule N: W_f = W
     rule D: W_f = W + duty_c * F_f, F_f = the firing time of f's past episodes, each episode
             counted as (its last event - its first event) (a lone one-shot event counts 0, the
             quiet time is not counted), either summed over episodes that ended in the last
             duty_l, or exponentially decayed with time constant duty_tau (O(1) state:
             F <- F*exp(-(t-t_F)/tau) + span at each episode end)
     rule P: W_f = w_of(key): one window for one-shot (auto-resolved) checks, another for
             checks resolved by their source.
4. Notifications per unit: Alertmanager's group_wait / group_interval applied to novelty only:
   a novel episode in a unit with no page pending pages at t + `wait` (if the unit has not paged
   within G) or at last page + G; novel episodes while a page is pending join it. Episodes that
   are not novel never page (an update on the unit). A unit never pages for anything else.
5. A page covers the unit's rows since its last resolve up to the page (the bench's rule);
   assignment of a row = its episode's unit.
"""
import heapq
import math
import streams as S
import engine as E
from streams import MIN, HOUR

INF = 1 << 62


def run(s, by='host', W=5 * HOUR, G=5 * MIN, wait=30_000, quiet=5 * MIN, linger=0,
        check_w=None, rare_k=None, rare_l=None, reopen=HOUR, dur_c=None, wmax=None, duty_c=None, duty_l=3 * 24 * HOUR, duty_incl_quiet=False, duty_tau=None, w_of=None, eps_cache={}):
    ck = (id(s), quiet)
    if ck not in eps_cache:
        eps_cache[ck] = E.episodes_per_fp(s, quiet, E.ids_oneshot)[0]
    eps = eps_cache[ck]
    keyf = {'host': lambda k: k[1], 'service': lambda k: k[2], 'check': lambda k: k[3],
            'fp': lambda k: k, 'all': lambda k: 0}[by] if isinstance(by, str) else by
    # firing-row times per fingerprint and per check, for novelty
    row_ep = {}
    for n, e in enumerate(eps):
        for r in e['rows']:
            row_ep[r] = n
    # process in time order: episode starts and ends, pending page flushes
    ev = []  # (time, order, kind, payload)
    for n, e in enumerate(eps):
        ev.append((e['start'], 1, 'start', n))
        ev.append((e['end'] if e['end'] is not None else INF, 0, 'end', n))
    ev.sort()
    last_fire_fp = {}
    last_fire_check = {}
    novel_hist = {}
    prev_dur = {}
    ended = {}
    decayed = {}
    units = {}  # key -> unit dict
    unit_of_ep = {}
    all_units = []
    pages = []  # (at, unit id)
    triggers = []  # per page: the novel episodes behind it
    resolves = {}
    # rows by time to update last_fire incrementally
    items = s.items
    firing_rows = [r for r, it in enumerate(items) if it[2]]
    fr_i = 0
    heap = []  # pending flush (due, seq, key, ver)
    seq = 0

    def advance_rows(t, inclusive):
        nonlocal fr_i
        while fr_i < len(firing_rows):
            r = firing_rows[fr_i]
            at = items[r][0]
            if at < t or (inclusive and at == t):
                k = s.keys[items[r][1]]
                last_fire_fp[items[r][1]] = at
                last_fire_check[k[3]] = at
                fr_i += 1
            else:
                break

    def do_flush(until):
        nonlocal seq
        while heap and heap[0][0] <= until:
            due, _, key, ver = heapq.heappop(heap)
            u = units.get(key)
            if u is None or u['ver'] != ver or not u['pending']:
                continue
            u['pending'] = False
            u['last_page'] = due
            pages.append((due, u['id']))
            triggers.append(u['trig'])
            u['trig'] = []

    next_uid = [0]
    for t, order, kind, n in ev:
        do_flush(t - 1 if kind == 'start' else t)
        e = eps[n]
        k = s.keys[e['fp']]
        key = keyf(k)
        if kind == 'end':
            rws = e['rows']
            prev_dur[e['fp']] = items[rws[-1]][0] - items[rws[0]][0]
            if duty_tau is not None:
                Fv, tF = decayed.get(e['fp'], (0.0, t))
                decayed[e['fp']] = (Fv * math.exp(-(t - tF) / duty_tau) + prev_dur[e['fp']], t)
            ended.setdefault(e['fp'], []).append((t, (t - items[rws[0]][0]) if duty_incl_quiet else prev_dur[e['fp']]))
            u = unit_of_ep.get(n)
            if u is None:
                continue
            u['active'].discard(n)
            if not u['active']:
                u['ends'] = t + linger
                # resolve lazily (see below)
            continue
        # start of episode n at t: novelty decided on the rows strictly before it
        advance_rows(t, False)
        fp = e['fp']
        lf = last_fire_fp.get(fp)
        w = W
        if dur_c is not None and fp in prev_dur:
            w = max(W, dur_c * prev_dur[fp])
            if wmax is not None:
                w = min(w, max(W, wmax))
        if duty_c is not None and duty_tau is not None:
            Fv, tF = decayed.get(fp, (0.0, t))
            w = W + duty_c * Fv * math.exp(-(t - tF) / duty_tau)
        elif duty_c is not None:
            past = [(b, d) for b, d in ended.get(fp, []) if t - b < duty_l]
            ended[fp] = past
            w = W + duty_c * sum(d for b, d in past)
        if w_of is not None and w_of(k) is not None:
            w = w_of(k)


        novel = lf is None or t - lf >= w
        if not novel and check_w is not None:
            lc = last_fire_check.get(k[3])
            novel = lc is None or t - lc >= check_w
        if novel and rare_k is not None:
            h = [x for x in novel_hist.get(fp, []) if t - x < rare_l]
            novel_hist[fp] = h + [t]
            if len(h) >= rare_k:
                novel = False
        # unit
        u = units.get(key)
        if u is not None and not u['active'] and u['ends'] is not None and u['ends'] < t:
            # the unit resolved at u['ends']
            resolves.setdefault(u['id'], []).append(u['ends'])
            u['ver'] += 1
            u['pending'] = False
            u['trig'] = []
            if t - u['ends'] <= reopen:
                u['ends'] = None  # reopens, same id
            else:
                u = None
        if u is None:
            next_uid[0] += 1
            u = {'id': next_uid[0], 'active': set(), 'ends': None, 'last_page': None,
                 'pending': False, 'ver': 0, 'key': key, 'trig': []}
            units[key] = u
            all_units.append(u)
        u['ends'] = None
        u['active'].add(n)
        unit_of_ep[n] = u
        if novel:
            u.setdefault('trig', []).append(n)
            if not u['pending']:
                if u['last_page'] is None or t - u['last_page'] >= G:
                    due = t + wait
                else:
                    due = u['last_page'] + G
                u['pending'] = True
                seq += 1
                heapq.heappush(heap, (due, seq, key, u['ver']))
    do_flush(INF)
    # assignments: every row -> its episode's unit
    assign = [None] * len(items)
    for n, e in enumerate(eps):
        u = unit_of_ep[n]
        for r in e['rows']:
            assign[r] = u['id']
    # resolve rows of MS (resolved events) also belong to the unit of the fingerprint's episode
    rows_of = {}
    for r, uid in enumerate(assign):
        if uid is not None and items[r][2]:
            rows_of.setdefault(uid, []).append(r)
    covered = S.cover(s, pages, rows_of, resolves)
    sc = S.score(s, covered, assign)
    sc['units'] = [(u['id'], u['key']) for u in all_units]
    sc['resolves'] = resolves
    sc['assign'] = assign
    sc['triggers'] = triggers
    sc['covered'] = covered
    sc['eps'] = eps
    return sc, pages


def ok(s, sc):
    if s.outages:
        return all(o[0] == 1 and o[1] >= 1 for o in sc['outages'])
    return sc['nphases'] >= 9


if __name__ == '__main__':
    import sys
    ait = S.load_ait(); ms = S.load_ms()
    for by in ('host', 'service'):
        for W in (4 * HOUR, 5 * HOUR, 24 * HOUR):
            for G in (5 * MIN, 30 * MIN, HOUR):
                a, _ = run(ait, by, W, G)
                m, _ = run(ms, by, W, G)
                print(by, W // HOUR, 'h', G // MIN, 'min |', S.fmt(ait, a), '|', S.fmt(ms, m))
