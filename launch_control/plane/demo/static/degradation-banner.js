/* <degradation-banner>: the end-user banner for a degraded service, as one dependency-free file.
 *
 * Include it from any front end (plain HTML, Next.js <Script>, ...) and place the element:
 *
 *   <script src="/static/degradation-banner.js" defer></script>
 *   <degradation-banner src="/api/status" poll="3"></degradation-banner>
 *
 * It polls `src` (Launch Control's /api/status: {degraded, reason, retry_after | retryAfter,
 * emergency}) every `poll` seconds and shows the reason, a live "retrying in N s" countdown from
 * retryAfter that re-checks by itself when it reaches zero (and fires a `degradation-retry` event
 * the page can use to repeat its last call), an emergency style, and a dismiss button. A
 * dismissed banner stays hidden for that reason only: it comes back when the reason changes.
 * Attributes it sets for styling and tests: `hidden`, `emergency`, `data-reason`.
 * Events (bubbling, composed): `degradation-change` {detail: status}, `degradation-retry`.
 */
(() => {
  "use strict";
  if (typeof window === "undefined" || !window.customElements || customElements.get("degradation-banner")) return;

  const STORE_KEY = "degradation-banner:dismissed";
  const CSS = `
    :host { display: block; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
    :host([hidden]) { display: none; }
    .bar { display: flex; gap: .75rem; align-items: center; padding: .7rem 1rem; border-radius: 6px;
           background: #fff4d6; color: #4a3700; border: 1px solid #e6c15a; }
    :host([emergency]) .bar { background: #b3261e; color: #fff; border-color: #7f1a15; font-weight: 600; }
    .icon { font-weight: 700; }
    .text { flex: 1; }
    .retry { white-space: nowrap; opacity: .9; }
    button { background: transparent; border: 0; color: inherit; font-size: 1.25rem; cursor: pointer;
             line-height: 1; padding: 0 .25rem; }
    button:focus-visible { outline: 2px solid currentColor; border-radius: 3px; }
  `;

  function dismissedKey() {
    try { return window.sessionStorage.getItem(STORE_KEY) || ""; } catch (_) { return ""; }
  }
  function rememberDismissed(key) {
    try { window.sessionStorage.setItem(STORE_KEY, key); } catch (_) { /* private mode: memory only */ }
  }

  class DegradationBanner extends HTMLElement {
    constructor() {
      super();
      this.status = { degraded: false };
      this.deadline = null;      // when the countdown ends (ms since epoch)
      this.dismissed = dismissedKey();
      this.pollTimer = null;
      this.tickTimer = null;
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML = `<style>${CSS}</style>
        <div class="bar" part="bar" role="status" aria-live="polite">
          <span class="icon" aria-hidden="true">!</span>
          <span class="text" part="text"><span class="reason"></span> <span class="retry" part="retry"></span></span>
          <button type="button" class="dismiss" part="dismiss" aria-label="Dismiss">×</button>
        </div>`;
      this.bar = root.querySelector(".bar");
      this.reasonEl = root.querySelector(".reason");
      this.retryEl = root.querySelector(".retry");
      root.querySelector(".dismiss").addEventListener("click", () => this.dismiss());
      this.hidden = true;
    }

    get src() { return this.getAttribute("src") || "/api/status"; }
    get pollSeconds() { return Math.max(0.5, parseFloat(this.getAttribute("poll")) || 3); }
    key(status) { return `${status.emergency ? "emergency" : "degraded"}:${status.reason || ""}`; }

    connectedCallback() {
      this.refresh();
      this.pollTimer = window.setInterval(() => this.refresh(), this.pollSeconds * 1000);
      this.tickTimer = window.setInterval(() => this.tick(), 250);
    }

    disconnectedCallback() {
      window.clearInterval(this.pollTimer);
      window.clearInterval(this.tickTimer);
    }

    async refresh() {
      let status;
      try {
        const response = await fetch(this.src, { headers: { Accept: "application/json" }, cache: "no-store" });
        status = await response.json();
      } catch (_) {
        return; // the status endpoint itself is unreachable: keep showing what we last knew
      }
      this.apply(status || {});
    }

    apply(status) {
      const before = this.key(this.status) + String(this.status.degraded);
      const retry = status.retryAfter ?? status.retry_after;
      const seconds = Number(retry);
      const changed = before !== this.key(status) + String(!!status.degraded);
      this.status = { ...status, degraded: !!status.degraded };
      if (!this.status.degraded) {
        this.deadline = null;
        if (this.dismissed) { this.dismissed = ""; rememberDismissed(""); } // a new episode shows again
      } else if (Number.isFinite(seconds) && seconds > 0 && (changed || this.deadline === null)) {
        this.deadline = Date.now() + seconds * 1000;
      } else if (!(Number.isFinite(seconds) && seconds > 0)) {
        this.deadline = null;
      }
      if (changed) {
        this.dispatchEvent(new CustomEvent("degradation-change", { detail: this.status, bubbles: true, composed: true }));
      }
      this.render();
    }

    tick() {
      if (this.deadline === null || !this.status.degraded) return;
      if (Date.now() >= this.deadline) {
        this.deadline = null;
        this.dispatchEvent(new CustomEvent("degradation-retry", { detail: this.status, bubbles: true, composed: true }));
        this.refresh(); // retries by itself: a fresh status restarts the countdown if still degraded
      }
      this.render();
    }

    dismiss() {
      this.dismissed = this.key(this.status);
      rememberDismissed(this.dismissed);
      this.render();
    }

    render() {
      const s = this.status;
      const show = s.degraded && this.key(s) !== this.dismissed;
      this.hidden = !show;
      this.toggleAttribute("emergency", !!(s.degraded && s.emergency));
      this.bar.setAttribute("role", s.emergency ? "alert" : "status");
      this.dataset.reason = s.degraded ? s.reason || "" : "";
      if (!show) return;
      this.reasonEl.textContent = (s.emergency ? "Emergency: " : "") +
        (s.reason || "Some features are temporarily degraded.");
      if (this.deadline !== null) {
        const left = Math.max(0, Math.ceil((this.deadline - Date.now()) / 1000));
        this.retryEl.textContent = `— retrying in ${left} s`;
      } else {
        this.retryEl.textContent = "";
      }
    }
  }

  customElements.define("degradation-banner", DegradationBanner);
})();
