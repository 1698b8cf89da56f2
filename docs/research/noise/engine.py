"""Per-fingerprint incident lifecycle as in collector/src/incidents (no grouping):
- firing with no incident / closed / resolved past the reopen window (1 h): open (page);
- resolved within the reopen window: reopen (page, same id);
- active: fold;
- resolved event: resolve unless flapping (Icinga-style weighted history of 20, high 30 %,
  low 25 %, min 6 observations; a flapping incident settles 10 min after its last event and
  then resolves if its last status was resolved);
- one-shot checks (auto_resolve): resolve when quiet >= quiet_ms (not while flapping);
- resolved closes after 24 h.
Timers due strictly before an event run before it (replay: run_timers_before(at)).

Output: episodes, one per open/reopen: dict(fp, id, start, end, rows, step).
"""
from streams import HOUR, MIN

REOPEN = HOUR
CLOSE = 24 * HOUR
SETTLE = 10 * MIN


class Flap:
    __slots__ = ('bits', 'n')

    def __init__(self):
        self.bits = []

    def observe(self, firing):
        self.bits.append(firing)
        if len(self.bits) > 20:
            self.bits.pop(0)

    def percent(self):
        n = len(self.bits)
        if n < 2:
            return 0.0
        pairs = n - 1
        ch = tot = 0.0
        for i in range(pairs):
            w = 1.0 if pairs == 1 else 0.8 + 0.4 * i / (pairs - 1)
            tot += w
            if self.bits[i] != self.bits[i + 1]:
                ch += w
        return 100.0 * ch / tot

    def next_state(self, flapping):
        p = self.percent()
        if flapping:
            return p >= 25.0
        return len(self.bits) >= 6 and p > 30.0


def episodes_per_fp(stream, quiet_ms=None, oneshot=None):
    """oneshot(check) -> bool: auto-resolve after quiet_ms. Returns (episodes, updates)."""
    by_fp = {}
    for row, it in enumerate(stream.items):
        by_fp.setdefault(it[1], []).append(row)
    eps = []
    updates = 0
    next_id = [0]
    for fp, rows in by_fp.items():
        check = stream.keys[fp][3]
        auto = quiet_ms if (oneshot and oneshot(check)) else None
        state = None  # None, 'open', 'resolved', 'closed'
        inc = None
        cur = None  # current episode
        for row in rows:
            at, _, firing, _ = stream.items[row]
            # timers strictly before `at`
            if state == 'open':
                if inc['flapping'] and inc['last'] + SETTLE < at:
                    inc['flapping'] = False
                    updates += 1
                    if not inc['last_status']:
                        state = 'resolved'; inc['resolved'] = inc['last'] + SETTLE; cur['end'] = inc['resolved']
                elif auto is not None and not inc['flapping'] and inc['last'] + auto < at:
                    state = 'resolved'; inc['resolved'] = inc['last'] + auto; cur['end'] = inc['resolved']
            if state == 'resolved' and inc['resolved'] + CLOSE < at:
                state = 'closed'
            if firing:
                if state in (None, 'closed') or (state == 'resolved' and at - inc['resolved'] > REOPEN):
                    next_id[0] += 1
                    inc = {'id': next_id[0], 'flap': Flap(), 'flapping': False, 'last': at,
                           'last_status': True, 'resolved': None}
                    inc['flap'].observe(True)
                    state = 'open'
                    cur = {'fp': fp, 'id': inc['id'], 'start': at, 'end': None, 'rows': [row], 'step': 'open'}
                    eps.append(cur)
                    continue
                if state == 'resolved':
                    state = 'open'
                    cur = {'fp': fp, 'id': inc['id'], 'start': at, 'end': None, 'rows': [row], 'step': 'reopen'}
                    eps.append(cur)
                else:
                    cur['rows'].append(row)
                inc['flap'].observe(True)
                inc['last_status'] = True
                inc['last'] = at
                f = inc['flap'].next_state(inc['flapping'])
                if f != inc['flapping']:
                    inc['flapping'] = f; updates += 1
            else:
                if state != 'open':
                    continue
                inc['flap'].observe(False)
                inc['last_status'] = False
                inc['last'] = at
                f = inc['flap'].next_state(inc['flapping'])
                if f != inc['flapping']:
                    inc['flapping'] = f; updates += 1
                if not inc['flapping']:
                    state = 'resolved'; inc['resolved'] = at; cur['end'] = at
        # drain
        if state == 'open':
            if inc['flapping']:
                updates += 1
                if not inc['last_status']:
                    cur['end'] = inc['last'] + SETTLE
            elif auto is not None:
                cur['end'] = inc['last'] + auto
    eps.sort(key=lambda e: (e['start'], e['fp']))
    return eps, updates


def ids_oneshot(check):
    return check[:2] in ('W-', 'S-', 'A-')
