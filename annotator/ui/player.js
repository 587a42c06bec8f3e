// The coder's player: a Streamlit component (st.components.v2) without a build step.
// annotator/ui/player.py joins player_view.js (what it draws) and this file (what it does) into
// one module and mounts it with `data`: video / times / faces URLs, frames, fps, frame and seek
// (the page's frame, and a number that changes when the page moved it), range [first, last]
// (the label range) and charts (keys of the charts to draw the playhead on). It sends one
// event, `frame`: the frame it shows, when the coder pauses, stops stepping for a moment, or
// acts elsewhere on the page.

const RATES = [0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2];
const SETTLE_MS = 300; // a pause in stepping this long tells the page the frame
const TIME_TOLERANCE = 1e-4; // seconds: media times come rounded to microseconds
const MODIFIERS = ["Shift", "Control", "Alt", "Meta"];
const HOLD_LIMIT_MS = 1000; // a page key waits at most this long for the page to learn the frame
const players = new WeakMap();

export default function (component) {
  const host = component.parentElement;
  let player = players.get(host);
  if (!player) {
    player = new Player(host);
    players.set(host, player);
  }
  player.update(component.data, component.setTriggerValue);
  return () => {
    player.destroy();
    players.delete(host);
  };
}

function typingInto(element) {
  if (!element || element.isContentEditable) return true;
  if (element.closest && element.closest("[role=slider]")) return true;
  if (element.tagName === "TEXTAREA" || element.tagName === "SELECT") return true;
  return element.tagName === "INPUT" && !["radio", "checkbox", "button"].includes(element.type);
}

class Player {
  constructor(host) {
    this.element = document.createElement("div");
    this.element.className = "player";
    this.element.innerHTML = `<div class="screen"><video preload="metadata" playsinline></video>
      <canvas class="faces"></canvas></div>
      <div class="bar"><div class="range"></div><div class="head"></div></div>
      <div class="readout" aria-live="polite"></div>`;
    host.appendChild(this.element);
    this.video = this.element.querySelector("video");
    this.view = new PlayerView(this, this.element);
    this.data = null;
    this.rate = 1;
    this.loop = false;
    this.overlay = true;
    this.problem = "";
    this.heldKeys = []; // [target, event init] of keys waiting for the page to learn the frame
    this.listen(window, "keydown", (event) => this.onKey(event), true);
    this.listen(window, "keyup", (event) => this.onKeyUp(event), true);
    this.listen(window, "pointerdown", (event) => this.onPointer(event), true);
    this.listen(this.view.bar, "click", (event) => this.onBarClick(event));
    this.listen(this.video, "seeked", () => this.onSeeked());
    this.listen(this.video, "pause", () => this.onPause());
    this.listen(this.video, "error", () => this.fail("the browser cannot play this video"));
    this.timer = setInterval(() => this.view.drawPlayheads(), 500); // the page may redraw
    const onFrame = (now, metadata) => {
      this.video.requestVideoFrameCallback(onFrame);
      this.onFrame(metadata.mediaTime);
    };
    this.video.requestVideoFrameCallback(onFrame);
  }

  listen(target, type, handler, capture = false) {
    target.addEventListener(type, handler, capture);
    (this.listeners ||= []).push(() => target.removeEventListener(type, handler, capture));
  }

  update(data, send) {
    this.send = send;
    const opened = !this.data || this.data.video !== data.video;
    const moved = !this.data || this.data.seek !== data.seek;
    this.data = data;
    if (this.heldKeys.length && data.frame === this.reported) {
      setTimeout(() => this.releaseKeys()); // once the page's other widgets have it too
    }
    if (opened) this.open();
    else if (moved) {
      this.reported = data.frame;
      this.goTo(data.frame);
    }
    this.view.draw();
  }

  // --- opening: frame times, and where the browser's media time starts ---------------------

  open() {
    Object.assign(this, { times: null, offset: null, firstMediaTime: null, shown: null,
                          requested: null, seeking: false, problem: "" });
    this.view.faces = new Map();
    this.target = this.reported = this.data.frame;
    this.element.dataset.ready = "false";
    delete this.element.dataset.frame;
    performance.mark("au-player-open"); // benchmarks/player_latency.py reads these
    const video = this.data.video;
    this.video.src = video; // range requests: the browser reads only what it plays or seeks to
    fetch(this.data.times)
      .then((response) => (response.ok ? response.arrayBuffer() : Promise.reject(response.status)))
      .then((buffer) => {
        if (this.data.video !== video) return; // another video opened meanwhile
        this.times = new Float64Array(buffer);
        this.calibrate();
      })
      .catch((status) => this.fail(`no frame times (${status}): reload the page`));
  }

  calibrate() {
    // the first picture the browser presents is frame 0: its media time against our time of
    // frame 0 gives the offset between the two clocks (0 for most files)
    if (this.times === null || this.firstMediaTime === null || this.offset !== null) return;
    this.offset = this.firstMediaTime - this.times[0];
    this.element.dataset.ready = "true";
    performance.mark("au-player-ready");
    this.show(this.frameAt(this.firstMediaTime));
    this.pump();
  }

  frameAt(mediaTime) {
    // the last frame that starts at or before this time (a seek lands on the frame holding it)
    const time = mediaTime - this.offset + TIME_TOLERANCE;
    let low = 0;
    let high = this.times.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.times[middle] <= time) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  timeOf(frame) {
    // the middle of the frame's time on screen: a seek there shows exactly that frame
    const times = this.times;
    const next = frame + 1 < times.length ? times[frame + 1] : times[frame] + 1 / this.data.fps;
    return (times[frame] + next) / 2 + this.offset;
  }

  // --- stepping: every key press moves the target; seeks follow it one at a time ------------

  goTo(frame) {
    this.target = Math.min(Math.max(Math.round(frame), 0), this.data.frames - 1);
    if (!this.video.paused) this.video.pause();
    this.pump();
  }

  step(frames) {
    this.goTo((this.video.paused ? this.target ?? this.shown ?? 0 : this.shown ?? 0) + frames);
  }

  pump() {
    if (this.offset === null || this.seeking || !this.video.paused || this.target === null) return;
    if (this.target === (this.requested ?? this.shown)) return;
    this.requested = this.target;
    this.seeking = true;
    this.video.currentTime = this.timeOf(this.target);
  }

  onSeeked() {
    this.seeking = false;
    this.pump();
    this.settleSoon();
  }

  onFrame(mediaTime) {
    if (this.firstMediaTime === null) {
      this.firstMediaTime = mediaTime;
      this.calibrate();
      return;
    }
    if (this.offset !== null) this.show(this.frameAt(mediaTime));
  }

  show(frame) {
    this.shown = frame;
    if (this.element.dataset.frame !== String(frame)) this.element.dataset.frame = String(frame);
    this.view.draw();
    if (!this.video.paused) this.keepInRange();
    else this.settleSoon();
  }

  settleSoon() {
    clearTimeout(this.settling);
    // settled: paused, no seek under way, and none to come (target null: no stepping goal)
    this.settling = setTimeout(() => {
      const goal = this.target === null || this.target === (this.requested ?? this.shown);
      if (this.video.paused && !this.seeking && goal) this.tellPage();
    }, SETTLE_MS);
  }

  tellPage() {
    // the frame on screen, or while stepping the one being sought (a key may act on it next);
    // true when the page did not know it
    clearTimeout(this.settling);
    const frame = this.video.paused ? this.target ?? this.shown : this.shown;
    if (frame === null || frame === this.reported) return false;
    this.reported = frame;
    this.send("frame", frame);
    return true;
  }

  // --- playing ------------------------------------------------------------------------------

  play() {
    this.target = null;
    this.requested = null;
    this.video.playbackRate = this.rate;
    this.video.play().catch((error) => {
      if (error.name !== "NotAllowedError") return; // AbortError: paused before it started
      this.video.muted = true; // the browser allows only silent playback here
      this.video.play().catch(() => {});
      this.view.describe();
    });
  }

  togglePlay() {
    if (this.video.paused) this.play();
    else this.video.pause();
  }

  onPause() {
    if (this.target === null) this.settleSoon(); // stopped by the coder, or at the end
  }

  keepInRange() {
    // looping: the last frame of the range stays its own time on screen, then the first comes
    const [first, last] = this.data.range;
    if (!this.loop || (this.shown >= first && this.shown < last)) return;
    const wait = this.shown === last ? 1000 / this.data.fps / this.rate : 0;
    clearTimeout(this.looping);
    this.looping = setTimeout(() => {
      if (this.loop && !this.video.paused) this.video.currentTime = this.timeOf(first);
    }, wait);
  }

  toggleLoop() {
    this.loop = !this.loop;
    if (this.loop) {
      this.video.currentTime = this.timeOf(this.data.range[0]);
      this.play();
    }
    this.view.describe();
  }

  changeRate(direction) {
    const index = RATES.indexOf(this.rate) + direction;
    this.rate = RATES[Math.min(Math.max(index, 0), RATES.length - 1)];
    this.video.playbackRate = this.rate;
    // browsers that keep the pitch play sound at any speed; others sound wrong when slow
    this.video.muted = !("preservesPitch" in this.video) && this.rate < 0.5;
    this.view.describe();
  }

  // --- keys and clicks ----------------------------------------------------------------------

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typingInto(event.target)) return;
    if (MODIFIERS.includes(event.key)) return; // Shift alone: a step of ten may follow
    const action = this.offset === null ? null : this.actionFor(event);
    if (action === null) {
      // a shortcut of the page's (H: range = this frame) acts once the page has the frame
      const learning = this.tellPage() || this.heldKeys.length > 0;
      if (learning && event.key.length === 1) this.holdKey(event);
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    action();
  }

  holdKey(event) {
    event.preventDefault();
    event.stopImmediatePropagation();
    const { key, code, shiftKey } = event;
    this.heldKeys.push([event.target, { key, code, shiftKey, bubbles: true, composed: true }]);
    clearTimeout(this.holding);
    this.holding = setTimeout(() => this.releaseKeys(), HOLD_LIMIT_MS);
  }

  releaseKeys() {
    clearTimeout(this.holding);
    const keys = this.heldKeys.splice(0);
    for (const [target, init] of keys) {
      target.dispatchEvent(new KeyboardEvent("keydown", init));
      target.dispatchEvent(new KeyboardEvent("keyup", init));
    }
  }

  actionFor(event) {
    const once = (action) => (event.repeat ? () => {} : action); // held, these toggle once
    const frames = event.shiftKey ? 10 : 1;
    const second = Math.max(1, Math.round(this.data.fps));
    const actions = {
      ArrowRight: () => this.step(frames),
      ArrowLeft: () => this.step(-frames),
      PageDown: () => this.step(second),
      PageUp: () => this.step(-second),
      Home: () => this.goTo(0),
      End: () => this.goTo(this.data.frames - 1),
      " ": once(() => this.togglePlay()),
      "[": () => this.changeRate(-1),
      "]": () => this.changeRate(1),
      l: once(() => this.toggleLoop()),
      o: once(() => this.toggleOverlay()),
    };
    return actions[event.key.length === 1 ? event.key.toLowerCase() : event.key] ?? null;
  }

  onKeyUp(event) {
    // a focused button would take Space as a click
    if (event.key === " " && this.offset !== null && !typingInto(event.target)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  onPointer(event) {
    if (!event.composedPath().includes(this.element)) this.tellPage();
  }

  onBarClick(event) {
    if (this.offset !== null) this.goTo(this.view.frameAtBar(event.clientX));
  }

  toggleOverlay() {
    this.overlay = !this.overlay;
    this.view.draw();
  }

  fail(problem) {
    this.problem = problem;
    this.view.describe();
  }

  destroy() {
    clearInterval(this.timer);
    clearTimeout(this.settling);
    clearTimeout(this.looping);
    clearTimeout(this.holding);
    this.listeners.forEach((remove) => remove());
    this.view.remove();
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    this.element.remove();
  }
}
