"""Load the two fixture streams the way vigil-bench-noise does (tests/src/bin/vigil-bench-noise.rs).

Item = (at_ms, key, firing, truth). AIT truth = phase index (0 = background), MS truth = 0.
Keys: (source, host, service, check).
"""
import csv, os, datetime, subprocess, tempfile

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tests', 'fixtures', 'noise')
MIN = 60_000
HOUR = 60 * MIN
GRACE = 5 * MIN


def ait_service(host):
    return {'mail': 'mail', 'davey_mail': 'mail', 'morris_mail': 'mail',
            'webserver': 'web', 'intranet_server': 'web',
            'cloud_share': 'files', 'internal_share': 'files',
            'inet-firewall': 'edge', 'vpn': 'edge', 'inet-dns': 'edge'}.get(host, host)


class Stream:
    pass


def load_ait():
    path = os.path.join(tempfile.gettempdir(), 'vigil-noise-ait.csv')
    if not os.path.exists(path):
        with open(path, 'wb') as f:
            subprocess.run(['zstd', '-dc', FIX + '/ait_russellmitchell_alerts.csv.zst'], stdout=f, check=True)
    lines = open(path).read().splitlines()
    header = lines[0].split(',')
    ct, cn, ch, cs, cl = (header.index(c) for c in ('time', 'name', 'host', 'short', 'time_label'))
    keys, index, phases, items = [], {}, ['false_positive'], []
    for line in lines[1:]:
        if not line.strip():
            continue
        f = line.split(',')
        sec = float(f[ct])
        source = f[cn].split(':')[0].strip().lower()
        host = f[ch]
        key = (source, host, ait_service(host), f[cs])
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        label = f[cl]
        if label not in phases:
            phases.append(label)
        items.append([int(round(sec * 1000)), index[key], True, phases.index(label)])
    items.sort(key=lambda it: it[0])  # stable, like Rust sort_by_key
    first = [min((it[0] for it in items if it[3] == p)) for p in range(len(phases))]
    order = sorted(range(1, len(phases)), key=lambda p: first[p])
    order.insert(0, 0)
    renumber = {old: new for new, old in enumerate(order)}
    s = Stream()
    s.name = 'AIT'
    s.keys = keys
    s.phases = [phases[o] for o in order]
    s.items = [(it[0], it[1], it[2], renumber[it[3]]) for it in items]
    s.outages = []
    return s


def parse_ts(t):
    return int(datetime.datetime.strptime(t, '%Y-%m-%dT%H:%M:%SZ').replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000)


def load_ms(one_host=False):
    keys, items, outages = [], [], []
    for n in range(1, 24):
        name = 'outbound-%02d' % n
        pts = []
        for line in open('%s/ms/%s.csv' % (FIX, name)):
            line = line.strip()
            if not line or line.startswith('#') or line.startswith('TimeStamp'):
                continue
            f = [x.strip('"') for x in line.split(',')]
            pts.append((parse_ts(f[0]), f[2] == '1'))
        if n == 1:
            start = None
            for at, lab in pts:
                if lab and start is None:
                    start = at
                elif not lab and start is not None:
                    outages.append((start, at)); start = None
            if start is not None:
                outages.append((start, pts[-1][0] + HOUR))
        host = 'middle-tier-api' if (one_host or n == 1) else 'dep-%02d' % n
        keys.append(('ms-expert-labels', host, 'middle-tier-api', 'latency:' + name))
        k = len(keys) - 1
        firing = False
        for at, lab in pts:
            if lab or firing:
                items.append((at, k, lab, 0))
            firing = lab
        if firing:
            items.append((pts[-1][0] + HOUR, k, False, 0))
    items.sort(key=lambda it: it[0])
    s = Stream()
    s.name = 'MS'
    s.keys = keys
    s.phases = ['background']
    s.items = items
    s.outages = outages
    return s


def phase_spans(s):
    spans = [[None, None, 0] for _ in s.phases]
    for at, k, fi, tr in s.items:
        sp = spans[tr]
        sp[0] = at if sp[0] is None else min(sp[0], at)
        sp[1] = at if sp[1] is None else max(sp[1], at)
        sp[2] += 1
    return spans


def in_outage(s, at):
    for i, (a, b) in enumerate(s.outages):
        if a <= at <= b + GRACE:
            return i
    return None


def score(s, pages, assign):
    """pages: list of (at_ms, unit, covered_rows); assign: per item, top-level unit id or None.
    Returns dict like the bench's Score."""
    spans = phase_spans(s)
    paged = [False] * len(s.phases)
    noise = 0
    per_outage = [[0, 0] for _ in s.outages]
    for at, unit, cov in pages:
        if s.outages:
            is_noise = in_outage(s, at) is None
        else:
            is_noise = all(s.items[r][3] == 0 for r in cov)
        noise += is_noise
        o = in_outage(s, at)
        if o is not None:
            per_outage[o][1] += 1
        for r in cov:
            ph = s.items[r][3]
            if ph and spans[ph][0] <= at <= spans[ph][1] + GRACE:
                paged[ph] = True
    for o, (a, b) in enumerate(s.outages):
        units = {assign[i] for i, it in enumerate(s.items)
                 if it[2] and a <= it[0] < b and assign[i] is not None}
        per_outage[o][0] = len(units)
    return {'pages': len(pages), 'noise': noise, 'phases': paged[1:],
            'nphases': sum(paged[1:]), 'outages': per_outage}


def cover(s, page_list, rows_of, resolves):
    """Bench's covering rule for Vigil: rows of the unit after its last resolve before the page, up to the page."""
    out = []
    import bisect
    for at, unit in page_list:
        rs = resolves.get(unit, [])
        after = max((t for t in rs if t < at), default=-1 << 62)
        rows = rows_of.get(unit, [])
        cov = [r for r in rows if after < s.items[r][0] <= at]
        out.append((at, unit, cov))
    return out


def fmt(s, sc):
    if s.outages:
        return '%s: %d pages (%d noise), outages %s' % (s.name, sc['pages'], sc['noise'],
                                                       ' '.join('%d inc/%d pg' % tuple(o) for o in sc['outages']))
    missed = [s.phases[i + 1] for i, p in enumerate(sc['phases']) if not p]
    return '%s: %d pages (%d noise), %d/10 phases%s' % (s.name, sc['pages'], sc['noise'], sc['nphases'],
                                                       (' missed ' + ','.join(missed)) if missed else '')
