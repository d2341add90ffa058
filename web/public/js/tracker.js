// The feed cursor (the same rules as the Rust SDK's PtsTracker): every feed event reaches the
// application once, in pts order. A pushed event that skips ahead of the cursor (a gap), or a
// new connection, starts a sync from the cursor; live events are held back (bounded) until the
// sync has caught up. If too many are held they are dropped and another sync round fetches them.
//
// Steps returned to the caller:
//   {deliver: {pts, event}}   hand the event to the application (cursor moved)
//   {reset: true}             the device was too far behind: refetch what is shown
//   {sync: pts}               send `sync` from pts and feed the page to onSyncPage
//   {synced: pts}             caught up; live events flow again

export class PtsTracker {
  constructor(last = 0, heldCap = 1000) {
    this.last = last;
    this.syncing = false;
    this.held = new Map();
    this.heldCap = Math.max(1, heldCap);
    this.overflowed = false;
  }

  onConnected() {
    this.syncing = true;
    this.held.clear();
    this.overflowed = false;
    return [{ sync: this.last }];
  }

  /** The server's feed ends before our cursor (its data was replaced): start from its head. */
  rewind(pts) {
    this.last = pts;
    this.held.clear();
    this.overflowed = false;
  }

  onLive(ev, out = []) {
    if (ev.pts <= this.last) return out;
    if (this.syncing) {
      this.hold(ev);
      return out;
    }
    if (ev.pts === this.last + 1) {
      this.last = ev.pts;
      out.push({ deliver: ev });
    } else {
      this.syncing = true;
      out.push({ sync: this.last });
      this.hold(ev);
    }
    return out;
  }

  onSyncPage(page, out = []) {
    if (page.reset) {
      out.push({ reset: true });
      const restart = page.events.length ? page.events[0].pts - 1 : page.pts;
      this.last = Math.max(this.last, restart);
      for (const p of [...this.held.keys()]) if (p <= this.last) this.held.delete(p);
    }
    for (const ev of page.events) {
      if (ev.pts > this.last) {
        this.last = ev.pts;
        out.push({ deliver: ev });
      }
    }
    this.last = Math.max(this.last, page.pts);
    if (page.more) {
      out.push({ sync: this.last });
      return out;
    }
    if (this.overflowed) {
      this.overflowed = false;
      this.held.clear();
      out.push({ sync: this.last });
      return out;
    }
    this.syncing = false;
    this.releaseHeld(out);
    if (!this.syncing) out.push({ synced: this.last });
    return out;
  }

  hold(ev) {
    if (this.held.size >= this.heldCap) {
      this.overflowed = true;
      return;
    }
    this.held.set(ev.pts, ev);
  }

  releaseHeld(out) {
    const held = [...this.held.values()].sort((a, b) => a.pts - b.pts);
    this.held.clear();
    for (let i = 0; i < held.length; i++) {
      this.onLive(held[i], out);
      if (this.syncing) {
        for (const ev of held.slice(i + 1)) this.hold(ev);
        return;
      }
    }
  }
}
