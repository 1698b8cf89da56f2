"""Event-driven port of Vigil's incident engine as the replay runs it (collector/src/incidents,
engine/service_groups.rs, replay/mod.rs), enough for vigil-bench-noise's streams:

- per fingerprint (source, host, service, check): open / fold / resolve / reopen (1 h) /
  close (24 h), flapping (Icinga-style), one-shot auto-resolve (IDS checks, `quiet`);
- service grouping (`[grouping] by`, `window`, `wait`, `by_check`), including that the
  service-level incident has the first member's check, so it auto-resolves by itself after
  `quiet` without a member joining (lifecycle::tick is generic);
- notifications: a lone incident's open/reopen waits `wait` and is cancelled if it is attached
  meanwhile; a group's open/reopen is a page (held as long as a member's wait); joining is an
  update; attached incidents are never notified;
- timers (ticks and outbox rows) due strictly before an event run before it, in order.

A `Hooks` object can veto pages (damping rules): hooks.allow(sim, incident, step, now) -> bool.
Output: pages [(at, notified id)], resolves {id: [at]}, final assignments (top-level id per row).
"""
import heapq
from streams import HOUR, MIN
from engine import Flap, REOPEN, CLOSE, SETTLE


class Inc:
    __slots__ = ('id', 'fp', 'host', 'check', 'key', 'state', 'opened', 'last_opened', 'last_event',
                 'resolved', 'flapping', 'flap', 'last_status', 'parent', 'held_until', 'paged',
                 'is_group', 'gkey', 'ver', 'reopened', 'hosts', 'auto', 'meta')

    def __init__(self):
        self.ver = 0
        self.meta = {}


class Sim:
    def __init__(self, stream, quiet_ms=5 * MIN, oneshot=None, group_key=None, window=5 * MIN,
                 wait=30_000, hooks=None):
        self.s = stream
        self.quiet = quiet_ms
        self.oneshot = oneshot or (lambda c: False)
        self.group_key = group_key  # fn(key tuple) -> str or None
        self.window = window
        self.wait = wait
        self.hooks = hooks
        self.incs = {}
        self.current = {}  # fp -> id of latest incident
        self.groups_of = {}  # group key -> [group ids]
        self.members_of_key = {}  # key -> [incident ids]
        self.children = {}  # group id -> [ids]
        self.heap = []
        self.seq = 0
        self.next_id = 0
        self.pages = []  # (at, id, step)
        self.resolves = {}
        self.updates = 0
        self.line_inc = []

    # ---- timers
    def push(self, due, kind, id, ver):
        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, kind, id, ver))

    def next_due(self, inc):
        due = None
        if inc.state == 'open':
            if inc.flapping:
                due = inc.last_event + SETTLE
            elif inc.auto is not None:
                due = inc.last_event + inc.auto
        elif inc.state == 'resolved':
            due = inc.resolved + CLOSE
        return due

    def rearm(self, inc):
        inc.ver += 1
        d = self.next_due(inc)
        if d is not None:
            self.push(d, 'tick', inc.id, inc.ver)

    def run_timers_before(self, at):
        while self.heap and self.heap[0][0] < at:
            due, _, kind, id, ver = heapq.heappop(self.heap)
            inc = self.incs.get(id)
            if kind == 'tick':
                if inc is None or inc.ver != ver:
                    continue
                self.tick(inc, due)
            elif kind == 'page':
                step = ver
                if inc.parent is None and inc.meta.get('pending') == (due, step):
                    inc.meta.pop('pending')
                    self.emit(inc, step, due)

    def tick(self, inc, now):
        if inc.state == 'open' and inc.flapping and now - inc.last_event >= SETTLE:
            inc.flapping = False
            self.updates += 1
            if not inc.last_status:
                self.resolve(inc, now)
            else:
                self.rearm(inc)
        elif inc.state == 'open' and not inc.flapping and inc.auto is not None and now - inc.last_event >= inc.auto:
            self.resolve(inc, now)
        elif inc.state == 'resolved' and now - inc.resolved >= CLOSE:
            inc.state = 'closed'
            inc.ver += 1
            if inc.is_group:
                # closed incidents leave the working set
                self.groups_of[inc.gkey].remove(inc.id)

    # ---- notifications
    def notify(self, inc, step, now, held_until=None):
        """Plan an open/reopen page for inc (no parent), due at held_until or now."""
        if inc.parent is not None:
            return
        due = now if held_until is None or held_until <= now else held_until
        if due == now:
            self.emit(inc, step, now)
        else:
            inc.meta['pending'] = (due, step)
            self.push(due, 'page', inc.id, step)

    def emit(self, inc, step, at):
        if self.hooks is not None and not self.hooks.allow(self, inc, step, at):
            return
        inc.paged = True
        self.pages.append((at, inc.id, step))

    def resolve(self, inc, now):
        inc.state = 'resolved'
        inc.resolved = now
        if inc.parent is None or inc.paged:
            self.resolves.setdefault(inc.id, []).append(now)
        self.rearm(inc)
        if self.hooks is not None and hasattr(self.hooks, 'on_resolve'):
            self.hooks.on_resolve(self, inc, now)
        self.member_settled(inc, now)

    # ---- events
    def new_inc(self, fp, now, is_group=False):
        self.next_id += 1
        inc = Inc()
        inc.id = self.next_id
        inc.fp = fp
        inc.state = 'open'
        inc.opened = inc.last_opened = inc.last_event = now
        inc.resolved = None
        inc.flapping = False
        inc.flap = Flap()
        inc.flap.observe(True)
        inc.last_status = True
        inc.parent = None
        inc.held_until = None
        inc.paged = False
        inc.is_group = is_group
        inc.gkey = None
        inc.key = None
        inc.reopened = 0
        inc.hosts = []
        inc.auto = None
        self.incs[inc.id] = inc
        return inc

    def event(self, row):
        at, fp, firing, _ = self.s.items[row]
        self.run_timers_before(at)
        key = self.s.keys[fp]
        cid = self.current.get(fp)
        cur = self.incs.get(cid) if cid else None
        state = cur.state if cur else None
        if firing:
            if cur is None or state == 'closed':
                dec = 'opened'
            elif state == 'resolved':
                dec = 'reopened' if at - cur.resolved <= REOPEN else 'opened'
            else:
                dec = 'folded'
        else:
            if cur is None:
                self.line_inc.append(None)
                return
            if state in ('resolved', 'closed'):
                self.line_inc.append(cur.id)
                return
            dec = 'resolving'
        if dec == 'opened':
            inc = self.new_inc(fp, at)
            inc.host = key[1]
            inc.check = key[3]
            inc.hosts = [key[1]]
            inc.auto = self.quiet if self.oneshot(key[3]) else None
            inc.key = self.group_key(key) if self.group_key else None
            if inc.key is not None:
                self.members_of_key.setdefault(inc.key, []).append(inc.id)
            self.current[fp] = inc.id
            self.line_inc.append(inc.id)
            if self.hooks is not None and hasattr(self.hooks, 'on_event'):
                self.hooks.on_event(self, inc, row, at, dec)
            self.rearm(inc)
            self.notify_or_group(inc, 'open', at)
            return
        inc = cur
        self.line_inc.append(inc.id)
        if dec == 'reopened':
            inc.state = 'open'
            inc.resolved = None
            inc.reopened += 1
            inc.last_opened = at
            if inc.parent is not None and self.incs[inc.parent].state == 'closed' and inc.key is not None:
                inc.parent = None
        # flapping stage
        fi = dec != 'resolving'
        inc.flap.observe(fi)
        inc.last_status = fi
        inc.last_event = at
        f = inc.flap.next_state(inc.flapping)
        if f != inc.flapping:
            inc.flapping = f
            self.updates += 1
        if self.hooks is not None and hasattr(self.hooks, 'on_event'):
            self.hooks.on_event(self, inc, row, at, dec)
        if dec == 'resolving':
            if not inc.flapping:
                self.resolve(inc, at)
                return
            self.rearm(inc)
            return
        self.rearm(inc)
        if dec == 'reopened':
            self.notify_or_group(inc, 'reopen', at)

    def notify_or_group(self, inc, step, now):
        if inc.key is None:
            self.notify(inc, step, now)
            return
        # cover(): the page is planned now unless attached; group() may attach/hold it
        self.group(inc, step, now)

    def last_heard(self, g, since):
        if g.last_event >= since:
            return g.last_event
        m = g.last_event
        for c in self.children.get(g.id, []):
            m = max(m, self.incs[c].last_event)
        return m

    def group(self, inc, step, now):
        key = inc.key
        in_group = None
        if inc.parent is not None:
            p = self.incs[inc.parent]
            if p.is_group:
                in_group = p
            else:
                return
        if in_group is not None and in_group.state == 'open':
            return  # member firing again while its group is active: nothing (attached: no page)
        since = now - self.window
        gathering = None
        for gid in self.groups_of.get(key, []):
            g = self.incs[gid]
            if g.state == 'open' and self.last_heard(g, since) >= since:
                if gathering is None or g.id > gathering.id:
                    gathering = g
        reopens = None
        if in_group is not None and in_group.state == 'resolved' and now - in_group.resolved <= REOPEN:
            reopens = in_group
        if reopens is not None:
            dec, g = 'reopened', reopens
        elif gathering is not None:
            dec, g = 'folded', gathering
        else:
            dec, g = 'opened', None
        members = [inc]
        if dec != 'folded':
            lone = []
            formed = False
            for oid in self.members_of_key.get(key, []):
                o = self.incs[oid]
                if o.id != inc.id and o.state == 'open' and o.parent is None:
                    lone.append(o)
                    if o.host != inc.host and o.last_opened >= since:
                        formed = True
            if formed or dec == 'reopened':
                members += lone
            if not formed and dec == 'opened':
                if in_group is not None:
                    # still attached to its old (resolved) group: its page is not sent
                    return
                if self.wait > 0:
                    inc.held_until = now + self.wait
                self.notify(inc, step, now, inc.held_until)
                return
        held = max([m.held_until for m in members if m.held_until is not None and m.held_until > now], default=None)
        if dec == 'folded':
            g.last_event = now
            newhosts = [m.host for m in members if m.host not in g.hosts]
            g.hosts += newhosts
            if newhosts:
                self.updates += 1
            if self.hooks is not None and hasattr(self.hooks, 'on_join'):
                self.hooks.on_join(self, g, members, now)
        elif dec == 'reopened':
            g.state = 'open'
            g.resolved = None
            g.last_event = now
            g.last_opened = now
            g.reopened += 1
            for m in members:
                if m.host not in g.hosts:
                    g.hosts.append(m.host)
            g.held_until = held
            self.rearm(g)
        else:
            g = self.new_inc(None, now, is_group=True)
            first = min(members, key=lambda m: (m.opened, m.id))
            g.check = first.check
            g.host = None
            g.auto = self.quiet if self.oneshot(g.check) else None
            g.gkey = key
            g.hosts = []
            for m in sorted(members, key=lambda m: (m.opened, m.id)):
                if m.host not in g.hosts:
                    g.hosts.append(m.host)
            g.held_until = held
            self.groups_of.setdefault(key, []).append(g.id)
            self.children[g.id] = []
            self.rearm(g)
        for m in members:
            if m.parent == g.id:
                continue
            m.parent = g.id
            m.held_until = None
            m.meta.pop('pending', None)
            self.children.setdefault(g.id, []).append(m.id)
        if dec == 'opened':
            if self.hooks is not None and hasattr(self.hooks, 'on_group_open'):
                self.hooks.on_group_open(self, g, members, now)
            self.notify(g, 'open', now, g.held_until)
        elif dec == 'reopened':
            self.notify(g, 'reopen', now, g.held_until)

    def member_settled(self, inc, now):
        if inc.parent is None:
            return
        g = self.incs[inc.parent]
        if not g.is_group or g.state != 'open':
            return
        for c in self.children.get(g.id, []):
            if self.incs[c].state == 'open':
                return
        self.resolve(g, now)

    def run(self):
        for row in range(len(self.s.items)):
            self.event(row)
        self.run_timers_before(1 << 62)
        # final assignments: top of the parent chain
        def top(i):
            while self.incs[i].parent is not None:
                i = self.incs[i].parent
            return i
        self.assign = [top(i) if i is not None else None for i in self.line_inc]
        return self


def scored(stream, sim):
    import streams as S
    rows_of = {}
    for r, u in enumerate(sim.assign):
        if u is not None and stream.items[r][2]:
            rows_of.setdefault(u, []).append(r)
    pages = S.cover(stream, [(at, i) for at, i, st in sim.pages], rows_of, sim.resolves)
    return S.score(stream, pages, sim.assign)
