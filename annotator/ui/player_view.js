// What the coder's player draws; player.py joins this file and player.js into one module.
// The face box and landmarks over the video (fetched by stretches of frames), the player's bar
// with the label range, the playhead over the page's charts, and the readout line.

const FACE_STRETCH = 1024; // frames of landmarks fetched at once
const FACE_VALUES = 5 + 2 * 68; // face, box x1 y1 x2 y2, 68 points x y (annotator.ui.video_route)

class PlayerView {
  constructor(player, element) {
    this.player = player;
    this.canvas = element.querySelector("canvas");
    this.bar = element.querySelector(".bar");
    this.readout = element.querySelector(".readout");
    this.faces = new Map(); // stretch number → Float32Array rows, or null while asked for
  }

  draw() {
    this.drawFaces();
    this.drawBar();
    this.drawPlayheads();
    this.describe();
  }

  faceRow(frame) {
    const { data } = this.player;
    const stretch = Math.floor(frame / FACE_STRETCH);
    const rows = this.faces.get(stretch);
    if (rows === undefined) {
      this.faces.set(stretch, null);
      const faces = this.faces;
      fetch(`${data.faces}?first=${stretch * FACE_STRETCH}&count=${FACE_STRETCH}`)
        .then((response) => (response.ok ? response.arrayBuffer() : Promise.reject()))
        .then((buffer) => {
          if (faces !== this.faces) return; // another video opened meanwhile
          faces.set(stretch, new Float32Array(buffer));
          this.draw();
        })
        .catch(() => faces.delete(stretch));
    }
    if (!rows) return null;
    const start = (frame - stretch * FACE_STRETCH) * FACE_VALUES;
    return rows.subarray(start, start + FACE_VALUES);
  }

  drawFaces() {
    const { canvas } = this;
    const { video, overlay, shown } = this.player;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(video.clientWidth * ratio);
    canvas.height = Math.round(video.clientHeight * ratio);
    const context = canvas.getContext("2d");
    const row = overlay && shown !== null ? this.faceRow(shown) : null;
    if (!row || !row[0] || !video.videoWidth) return;
    const scale = canvas.width / video.videoWidth;
    context.lineWidth = 2 * ratio;
    context.strokeStyle = "rgb(0, 200, 80)";
    context.strokeRect(row[1] * scale, row[2] * scale, (row[3] - row[1]) * scale,
                       (row[4] - row[2]) * scale);
    context.fillStyle = "rgb(255, 60, 60)";
    for (let point = 5; point < FACE_VALUES; point += 2) {
      context.beginPath();
      context.arc(row[point] * scale, row[point + 1] * scale, 2 * ratio, 0, 2 * Math.PI);
      context.fill();
    }
  }

  frame() {
    return this.player.shown ?? this.player.data.frame;
  }

  fraction(frame) {
    return (frame + 0.5) / this.player.data.frames; // a frame's centre on the charts' axis
  }

  drawBar() {
    const { frames, range: [first, last] } = this.player.data;
    const range = this.bar.querySelector(".range");
    range.style.left = `${(first / frames) * 100}%`;
    range.style.width = `${((last - first + 1) / frames) * 100}%`;
    this.bar.querySelector(".head").style.left = `${this.fraction(this.frame()) * 100}%`;
  }

  frameAtBar(clientX) {
    const box = this.bar.getBoundingClientRect();
    return ((clientX - box.left) / box.width) * this.player.data.frames - 0.5;
  }

  drawPlayheads() {
    // one playhead: a line over each chart's plot area at the frame on screen
    if (!this.player.data) return;
    for (const key of this.player.data.charts) {
      const chart = document.querySelector(`.st-key-${key}`);
      const plot = chart && chart.querySelector(".nsewdrag");
      if (!plot) continue;
      let line = chart.querySelector(":scope > .au-playhead");
      if (!line) {
        line = document.createElement("div");
        line.className = "au-playhead";
        line.style.cssText = "position:absolute;width:2px;margin-left:-1px;z-index:5;" +
          "background:#d62728;pointer-events:none";
        if (getComputedStyle(chart).position === "static") chart.style.position = "relative";
        chart.appendChild(line);
      }
      const box = plot.getBoundingClientRect();
      const outer = chart.getBoundingClientRect();
      line.style.left = `${box.left - outer.left + this.fraction(this.frame()) * box.width}px`;
      line.style.top = `${box.top - outer.top}px`;
      line.style.height = `${box.height}px`;
    }
  }

  describe() {
    const { problem, offset, times, data, rate, loop, overlay, video } = this.player;
    if (problem || offset === null) {
      this.readout.textContent = problem ? `The player stopped: ${problem}.` : "opening…";
      return;
    }
    const frame = this.frame();
    const row = this.faceRow(frame);
    const parts = [`frame ${frame} of ${data.frames - 1}`,
                   `${(times[frame] - times[0]).toFixed(3)} s`];
    if (row) parts.push(row[0] ? "face" : "no face found");
    parts.push(`${rate}×${video.muted ? " (muted)" : ""}`);
    if (loop) parts.push(`looping ${data.range[0]}–${data.range[1]}`);
    if (!overlay) parts.push("overlay off");
    this.readout.textContent = parts.join(" · ");
  }

  remove() {
    document.querySelectorAll(".au-playhead").forEach((line) => line.remove());
  }
}
