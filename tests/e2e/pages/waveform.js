// @ts-check
// The test page's script (tests/e2e/test_waveform_component.py): the labeling tool's audio mode
// and the review desk's region player built as the pages build them, opened on what the test
// gives, without the services. Keys go to the open one, as label.js and review.js route them.
import { AudioWorkspace } from "/ui/label/audio.js";
import { AudioDesk, wordDiff } from "/ui/review/listen.js";

const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const workspace = new AudioWorkspace(byId("audio-workspace"));
/** @type {string[]} */
const selections = [];
const desk = new AudioDesk(byId("desk-audio"), (id) => selections.push(String(id)));
/** @type {"label" | "desk" | ""} */
let mode = "";

window.addEventListener("keydown", (e) => {
  const used = mode === "label" ? workspace.key(e) : mode === "desk" ? desk.key(e) : false;
  if (used) e.preventDefault();
});

Object.assign(window, {
  aviaryAudio: workspace,
  aviaryDesk: desk,
  deskSelections: selections,
  /** @param {import("/ui/label/audio.js").AudioTask & { instructions: string }} task */
  openLabel: async (task) => {
    mode = "label";
    byId("mode").textContent = "labeling";
    byId("instructions").textContent = task.instructions;
    desk.close();
    await workspace.open(task);
  },
  /** @param {{ audio: import("/ui/common/segments.js").AudioView, transcript: import("/ui/common/segments.js").Transcript, overlaps: { annotator_id: string, word_diff: import("/ui/review/listen.js").DiffOp[] }[] }} unit */
  openDesk: async (unit) => {
    mode = "desk";
    byId("mode").textContent = "review desk";
    workspace.close();
    byId("versions-box").hidden = !unit.overlaps.length;
    byId("versions").replaceChildren(
      ...unit.overlaps.map((o) => {
        const box = document.createElement("div");
        box.className = "version";
        box.dataset.annotator = o.annotator_id;
        box.append(o.annotator_id, wordDiff(o.word_diff));
        return box;
      }),
    );
    await desk.open(unit);
  },
  pageReady: true,
});
