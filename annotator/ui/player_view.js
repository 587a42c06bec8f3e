// What the coder's player draws; player.py joins this file and player.js into one module.
// Every subject's face box, number and landmarks over the video (fetched by stretches of
// frames; the subject being coded bold), the player's bar with the label range, the playhead
// over the page's charts, and the readout line.

const FACE_STRETCH = 1024; // frames of landmarks fetched at once
const FACE_VALUES = 5 + 2 * 68; // face, box x1 y1 x2 y2, 68 points x y (annotator.ui.video_route)
const CODED = "rgb(0, 200, 80)"; // the subject being coded
const OTHER = "rgb(255, 200, 0)"; // every other subject

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

  faceRows(frame) {
    // the frame's rows, one per subject in number order (FACE_VALUES each); null until fetched
    const { data } = this.player;
    const width = FACE_VALUES * data.subjects;
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
    const start = (frame - stretch * FACE_STRETCH) * width;
    return rows.subarray(start, start + width);
  }

  subjectRow(rows, subject) {
    return rows.subarray((subject - 1) * FACE_VALUES, subject * FACE_VALUES);
  }

  drawFaces() {
    const { canvas } = this;
    const { video, overlay, shown, data } = this.player;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(video.clientWidth * ratio);
    canvas.height = Math.round(video.clientHeight * ratio);
    const context = canvas.getContext("2d");
    const rows = overlay && shown !== null ? this.faceRows(shown) : null;
    if (!rows || !video.videoWidth) return;
    const scale = canvas.width / video.videoWidth;
    for (let subject = 1; subject <= data.subjects; subject += 1) {
      const row = this.subjectRow(rows, subject);
      if (row[0]) this.drawFace(context, row, subject, subject === data.subject, scale, ratio);
    }
  }

  drawFace(context, row, subject, coded, scale, ratio) {
    const [x1, y1, x2, y2] = [row[1] * scale, row[2] * scale, row[3] * scale, row[4] * scale];
    context.lineWidth = (coded ? 3 : 1) * ratio;
    context.strokeStyle = coded ? CODED : OTHER;
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    context.font = `bold ${Math.round((coded ? 18 : 14) * ratio)}px sans-serif`;
    context.fillStyle = coded ? CODED : OTHER;
    context.fillText(String(subject), x1 + 3 * ratio, y1 - 4 * ratio);
    context.fillStyle = coded ? "rgb(255, 60, 60)" : "rgba(255, 200, 0, 0.7)";
    for (let point = 5; point < FACE_VALUES; point += 2) {
      context.beginPath();
      context.arc(row[point] * scale, row[point + 1] * scale, (coded ? 2 : 1.5) * ratio, 0,
                  2 * Math.PI);
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
    const rows = this.faceRows(frame);
    const parts = [`frame ${frame} of ${data.frames - 1}`,
                   `${(times[frame] - times[0]).toFixed(3)} s`];
    if (rows) {
      const coded = data.subject <= data.subjects && this.subjectRow(rows, data.subject)[0];
      parts.push(coded ? `subject ${data.subject}'s face` : `no face of subject ${data.subject}`);
    }
    parts.push(`${rate}×${video.muted ? " (muted)" : ""}`);
    if (loop) parts.push(`looping ${data.range[0]}–${data.range[1]}`);
    if (!overlay) parts.push("overlay off");
    this.readout.textContent = parts.join(" · ");
  }

  remove() {
    document.querySelectorAll(".au-playhead").forEach((line) => line.remove());
  }
}
