// A virtual list for rows of varying height: only the rows near the viewport are in the DOM,
// so a conversation of 10,000 messages costs the same to scroll as one of 50.
//
// Rows are absolutely positioned inside a sizer whose height is the sum of the rows' heights
// (measured once rendered, estimated before). Whenever heights or rows change, the row at the
// top of the viewport stays where it is on screen (the anchor), unless the view was at the bottom,
// where it stays (new messages scroll into view, as in every messenger).

export class VList {
  /**
   * @param {HTMLElement} scroller the scrolling element
   * @param {object} o
   *   key(item) -> string; sig(item, i, items) -> string (re-render when it changes);
   *   render(item, i, items) -> HTMLElement; onNearTop(); onScroll(atBottom)
   */
  constructor(scroller, o) {
    this.scroller = scroller;
    this.o = o;
    this.items = [];
    this.keys = [];
    this.heights = new Map();
    this.offsets = [0];
    this.estimate = o.estimate || 60;
    this.measuredSum = 0;
    this.measuredCount = 0;
    this.overscan = o.overscan || 800;
    this.rendered = new Map(); // key -> {el, sig}
    this.sizer = document.createElement('div');
    this.sizer.className = 'vl-sizer';
    scroller.append(this.sizer);
    this.stick = true;
    this.width = 0;
    this.frame = 0;
    scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.resizeObserver = new ResizeObserver(() => {
      const w = this.scroller.clientWidth;
      if (w !== this.width) {
        // New widths wrap text differently: every height we know is stale.
        this.width = w;
        this.heights.clear();
        this.measuredSum = 0;
        this.measuredCount = 0;
      }
      this.update();
    });
    this.resizeObserver.observe(scroller);
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 24;
  }

  /** New rows (same keys keep their measured heights). */
  setItems(items) {
    const anchor = this.stick ? null : this.captureAnchor();
    this.items = items;
    this.keys = items.map(this.o.key);
    this.recompute();
    this.restore(anchor);
    this.layout();
  }

  /** Re-render rows whose signature changed (markers, reactions, language). */
  refresh() {
    this.layout();
  }

  scrollToBottom() {
    this.stick = true;
    this.scroller.scrollTop = this.total();
    this.layout();
  }

  total() {
    return this.offsets[this.offsets.length - 1];
  }

  indexOfKey(key) {
    return this.keys.indexOf(key);
  }

  /** Brings row i into view (if needed) and returns its element. */
  /** Scrolls so that item `i` is near the top (a jump, e.g. to the first unread message). */
  scrollToIndex(i) {
    if (i < 0 || i >= this.items.length) return;
    this.scroller.scrollTop = Math.max(0, this.offsets[i] - 8);
    this.stick = this.atBottom();
    this.layout();
  }

  reveal(i) {
    if (i < 0 || i >= this.items.length) return null;
    const top = this.offsets[i];
    const bottom = this.offsets[i + 1];
    const s = this.scroller;
    if (top < s.scrollTop) s.scrollTop = top - 8;
    else if (bottom > s.scrollTop + s.clientHeight) s.scrollTop = bottom - s.clientHeight + 8;
    this.stick = this.atBottom();
    this.layout();
    const r = this.rendered.get(this.keys[i]);
    return r ? r.el : null;
  }

  onScroll() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.stick = this.atBottom();
      this.layout();
      if (this.scroller.scrollTop < this.overscan && this.o.onNearTop) this.o.onNearTop();
      if (this.o.onScroll) this.o.onScroll(this.stick);
    });
  }

  update() {
    const anchor = this.stick ? null : this.captureAnchor();
    this.recompute();
    this.restore(anchor);
    this.layout();
  }

  recompute() {
    const n = this.keys.length;
    const offsets = new Array(n + 1);
    offsets[0] = 0;
    for (let i = 0; i < n; i++) {
      const h = this.heights.get(this.keys[i]);
      offsets[i + 1] = offsets[i] + (h === undefined ? this.estimate : h);
    }
    this.offsets = offsets;
    this.sizer.style.height = offsets[n] + 'px';
  }

  /** The first row at or below the top of the viewport, and how far the view is into it. */
  captureAnchor() {
    const top = this.scroller.scrollTop;
    const i = this.find(top);
    if (i >= this.keys.length) return null;
    return { key: this.keys[i], delta: top - this.offsets[i] };
  }

  restore(anchor) {
    const s = this.scroller;
    if (this.stick) {
      s.scrollTop = this.total();
      return;
    }
    if (!anchor) return;
    const i = this.keys.indexOf(anchor.key);
    if (i >= 0) s.scrollTop = this.offsets[i] + anchor.delta;
  }

  /** Index of the row containing y (binary search over offsets). */
  find(y) {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Render the rows in view, measure them, and repeat while measuring moved things. */
  layout() {
    for (let pass = 0; pass < 4; pass++) {
      this.renderWindow();
      if (!this.measure()) break;
      const anchor = this.stick ? null : this.captureAnchor();
      this.recompute();
      this.restore(anchor);
    }
  }

  renderWindow() {
    const s = this.scroller;
    const n = this.items.length;
    const first = Math.max(0, this.find(s.scrollTop - this.overscan));
    const last = Math.min(n - 1, this.find(s.scrollTop + s.clientHeight + this.overscan));
    const keep = new Set();
    const active = document.activeElement;
    for (let i = first; i <= last && n > 0; i++) {
      const key = this.keys[i];
      keep.add(key);
      const item = this.items[i];
      const sig = this.o.sig(item, i, this.items);
      let r = this.rendered.get(key);
      if (!r || r.sig !== sig) {
        const el = this.o.render(item, i, this.items);
        el.classList.add('vl-row');
        el.dataset.key = key;
        const hadFocus = r && r.el.contains(active);
        if (r) r.el.replaceWith(el);
        else this.sizer.append(el);
        if (hadFocus) el.focus({ preventScroll: true });
        r = { el, sig, top: -1 };
        this.rendered.set(key, r);
      }
      r.index = i;
      const top = this.offsets[i];
      if (r.top !== top) {
        r.el.style.transform = `translateY(${top}px)`;
        r.top = top;
      }
    }
    for (const [key, r] of this.rendered) {
      if (keep.has(key)) continue;
      // The row with keyboard focus stays until focus moves on.
      const i = r.el.contains(active) ? this.keys.indexOf(key) : -1;
      if (i >= 0) {
        if (r.top !== this.offsets[i]) {
          r.el.style.transform = `translateY(${this.offsets[i]}px)`;
          r.top = this.offsets[i];
        }
        continue;
      }
      r.el.remove();
      this.rendered.delete(key);
    }
  }

  /** Records the height of every rendered row; true when one changed. */
  measure() {
    let changed = false;
    for (const [key, r] of this.rendered) {
      const h = r.el.offsetHeight;
      const old = this.heights.get(key);
      if (old !== h) {
        this.heights.set(key, h);
        changed = true;
        // Unmeasured rows are estimated at the average so far: fewer corrections later.
        this.measuredSum += h - (old ?? 0);
        if (old === undefined) this.measuredCount++;
      }
    }
    if (changed && this.measuredCount >= 8) this.estimate = this.measuredSum / this.measuredCount;
    return changed;
  }

  /** Number of rows in the DOM (for tests and diagnostics). */
  get domRows() {
    return this.rendered.size;
  }
}
