// @ts-check
// Playing a part of a recording with an <audio> element, for the labeling tool and the review
// desk: the listening copy is the whole recording, so playback is kept between the part's
// start and end, a stretch (a region, or the rest of the part) plays once or in a loop, at
// 0.5 to 2 times the speed. The element's `timeupdate` comes four times a second, too seldom
// to stop at a region's end: while playing, each animation frame checks the time, moves the
// cursor (`onTime`) and stops or loops at the stretch's end.

/** @typedef {import("/ui/common/waveview.js").Span} Span */

export const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const END_SLACK_S = 0.005;

export class Playback {
  /**
   * @param {HTMLAudioElement} audio
   * @param {(time: number, playing: boolean) => void} onTime after each move of the time, and when playing starts or stops
   */
  constructor(audio, onTime) {
    this.audio = audio;
    this.onTime = onTime;
    /** @type {Span} the part: nothing outside it plays */
    this.bounds = { start: 0, end: 0 };
    /** @type {Span} what plays now */
    this.stretch = { start: 0, end: 0 };
    this.loop = false;
    this.frame = 0;
    /** @type {string | null} a fresh URL to take at the next pause */
    this.renewed = null;
    /** @type {number} where the cursor is when nothing plays */
    this.cursor = 0;
    audio.preload = "auto";
    audio.addEventListener("ended", () => this.stop(this.audio.currentTime));
    audio.addEventListener("timeupdate", () => this.tick());
  }

  /**
   * A recording, to be played between `start` and `end` (seconds from its start).
   * @param {string} url
   * @param {number} start
   * @param {number} end
   */
  load(url, start, end) {
    this.pause();
    this.bounds = { start, end };
    this.stretch = { start, end };
    this.cursor = start;
    if (this.audio.getAttribute("src") !== url) this.audio.src = url;
    this.seek(start);
  }

  /**
   * A fresh URL of the same recording (media URLs live as long as the task's lease, and each
   * heartbeat hands out new ones): taken at once when nothing plays, else at the next pause.
   * @param {string} url
   */
  renew(url) {
    if (!this.audio.getAttribute("src")) return;
    this.renewed = url;
    if (!this.playing) this.takeRenewed();
  }

  takeRenewed() {
    const url = this.renewed;
    this.renewed = null;
    if (!url || this.audio.getAttribute("src") === url) return;
    const rate = this.audio.playbackRate; // a new source starts at the default rate
    this.audio.src = url;
    this.audio.playbackRate = rate;
  }

  unload() {
    this.renewed = null;
    this.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
  }

  get playing() {
    return !this.audio.paused;
  }

  /** The time now: the element's while it plays, else the cursor. */
  get time() {
    return this.playing ? this.audio.currentTime : this.cursor;
  }

  /** @param {number} t */
  clamp(t) {
    return Math.min(this.bounds.end, Math.max(this.bounds.start, t));
  }

  /** @param {number} t the cursor, and where the next play starts */
  seek(t) {
    this.cursor = this.clamp(t);
    if (this.audio.readyState >= HTMLMediaElement.HAVE_METADATA) this.audio.currentTime = this.cursor;
    this.onTime(this.cursor, this.playing);
  }

  /**
   * Play `stretch` (the rest of the part unless given) from `from` (its start unless given, or
   * when outside it); it stops at its end, or starts again there when looping.
   * @param {Span} [stretch]
   * @param {number} [from]
   */
  async play(stretch, from) {
    const span = stretch ? { start: this.clamp(stretch.start), end: this.clamp(stretch.end) } : { ...this.bounds };
    let at = from ?? span.start;
    if (at < span.start || at >= span.end - END_SLACK_S) at = span.start;
    this.stretch = span;
    this.cursor = at;
    if (this.audio.readyState < HTMLMediaElement.HAVE_METADATA) await this.loaded();
    this.audio.currentTime = at;
    await this.audio.play();
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.watch());
    this.onTime(at, true);
  }

  /** @returns {Promise<void>} once the recording's length is known; refused when it cannot load */
  loaded() {
    const audio = this.audio;
    if (audio.error) return Promise.reject(new Error("the recording could not be loaded"));
    return new Promise((resolve, reject) => {
      const ok = () => {
        off();
        resolve();
      };
      const bad = () => {
        off();
        reject(new Error("the recording could not be loaded"));
      };
      const off = () => {
        audio.removeEventListener("loadedmetadata", ok);
        audio.removeEventListener("error", bad);
      };
      audio.addEventListener("loadedmetadata", ok);
      audio.addEventListener("error", bad);
    });
  }

  pause() {
    cancelAnimationFrame(this.frame);
    if (!this.audio.paused) {
      this.audio.pause();
      this.cursor = this.clamp(this.audio.currentTime);
    }
    this.takeRenewed();
    this.onTime(this.cursor, false);
  }

  /**
   * Stop at `t` (a stretch's end): paused, the cursor there.
   * @param {number} t
   */
  stop(t) {
    cancelAnimationFrame(this.frame);
    this.audio.pause();
    this.cursor = this.clamp(t);
    this.audio.currentTime = this.cursor;
    this.takeRenewed();
    this.onTime(this.cursor, false);
  }

  /** @param {number} rate the speed, 0.5 to 2 */
  setRate(rate) {
    this.audio.playbackRate = Math.min(2, Math.max(0.5, rate));
  }

  get rate() {
    return this.audio.playbackRate;
  }

  /** Each animation frame while playing: the cursor follows; the stretch's end stops or loops. */
  watch() {
    if (this.audio.paused) return;
    this.tick();
    if (!this.audio.paused) this.frame = requestAnimationFrame(() => this.watch());
  }

  tick() {
    if (this.audio.paused) return;
    const t = this.audio.currentTime;
    if (t >= this.stretch.end - END_SLACK_S) {
      if (this.loop) {
        this.audio.currentTime = this.stretch.start;
        this.onTime(this.stretch.start, true);
      } else this.stop(this.stretch.end);
      return;
    }
    this.onTime(t, true);
  }
}
