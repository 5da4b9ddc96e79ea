// @ts-check
// Training mode (docs/onboarding.md): a project that asks new people to train and pass an exam
// before its production work. The Training box lists the person's standing in each such project
// with the button that leases their next training or exam task; after a training task's submit
// the feedback view shows what was right and what was not, shape by shape (or word by word),
// with the class's guideline where it went wrong, beside the known answer.
import { ImageCanvas } from "/ui/common/canvas.js";
import { ApiError, api, byId as $, clear, el, messageOf, percent, toast } from "/ui/common/common.js";

/** @typedef {import("/ui/common/canvas.js").Annotation} Annotation */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/**
 * One person's standing in one project (GET /v1/onboarding/me).
 * @typedef {{ project_id: string, project_name: string, stage: "training" | "exam" | "waiting" | "admitted",
 *   training_done: number, training_required: number, exam_tasks: number, pass_mark: number,
 *   attempts: { attempt: number, mean: number | null, passed: boolean | null }[],
 *   retry_at: string | null, admitted: boolean, admitted_by: string | null, reason: string | null,
 *   skill: number | null, class_skill: Record<string, number>, held_classes: string[] }} Standing
 */
/**
 * @typedef {{ verdict: "right" | "off" | "wrong_class" | "missed" | "extra", class_name: string | null,
 *   expected_class: string | null, shape_index: number | null, answer_index: number | null,
 *   similarity: number | null, offset_px: number | null, guideline: string | null,
 *   track_id?: string | null, frames?: [number, number] | null }} ShapeVerdict
 * @typedef {{ verdict: "right" | "wrong" | "missed" | "extra", word: string | null, expected: string | null }} WordVerdict
 * @typedef {{ submission_id: string, score: number, right: number, wrong: number, shapes: ShapeVerdict[],
 *   words: WordVerdict[], answer: Annotation | null, instructions: string }} Feedback
 */
/**
 * What the feedback view needs of the task just submitted.
 * @typedef {{ project_id: string, classes: OntologyClass[], image: { url: string, width: number, height: number },
 *   video?: unknown, audio?: unknown }} Submitted
 */

const FEEDBACK_WAIT_MS = 30000; // review scores a training task within moments; then we give up
const FEEDBACK_POLL_MS = 400;

export class Training {
  /**
   * @param {{ open: (task: any) => Promise<void>, idle: (message: string) => void }} workspace
   *   `open` shows a leased task; `idle` empties the stage with a message
   */
  constructor(workspace) {
    this.workspace = workspace;
    /** @type {Standing[]} */
    this.standings = [];
    /** @type {string | null} the project being trained on, while in training mode */
    this.project = null;
    $("feedback-next").addEventListener("click", () => {
      $("feedback-dialog", HTMLDialogElement).close();
      if (this.project) this.next(this.project);
    });
  }

  /** The person's standing in every project that asks for onboarding (none: the box hides). */
  async refresh() {
    try {
      this.standings = /** @type {Standing[]} */ (await api("review", "GET", "/v1/onboarding/me"));
    } catch {
      return; /* a courtesy: production work goes on without it */
    }
    const gated = this.standings.filter((s) => s.training_required > 0 || s.exam_tasks > 0);
    $("training-box").hidden = !gated.length;
    clear($("training"), gated.map((s) => this.row(s)));
  }

  /** @param {Standing} s */
  row(s) {
    const last = s.attempts.filter((a) => a.passed !== null).at(-1);
    const action =
      s.stage === "training" ? "Train" : s.stage === "exam" ? "Take the exam" : null;
    return el(
      "div",
      { class: "standing", dataset: { project: s.project_id, stage: s.stage } },
      el("b", {}, s.project_name || s.project_id),
      el("div", { class: "muted" }, describe(s)),
      last && !last.passed ? el("div", { class: "muted" }, `last exam ${percent(last.mean)} (pass mark ${percent(s.pass_mark)})`) : null,
      s.skill !== null ? el("div", { class: "muted" }, `skill ${percent(s.skill)}${classSkills(s)}`) : null,
      s.held_classes.length
        ? el("div", { class: "error" }, `${s.held_classes.join(", ")}: under the project's minimum, so such tasks go to others for now; gold tasks bring it back`)
        : null,
      action ? el("button", { type: "button", class: "primary", onclick: () => this.next(s.project_id) }, action) : null,
    );
  }

  /**
   * Lease the person's next training or exam task of a project and open it; a refusal (being
   * scored, admitted, waiting for the retry) is said and the standing shown again.
   * @param {string} projectId
   */
  async next(projectId) {
    this.project = projectId;
    try {
      const task = await api("dispatch", "POST", `/v1/projects/${projectId}/onboarding/next`);
      await this.workspace.open(task);
    } catch (error) {
      this.project = null;
      const code = error instanceof ApiError ? error.code : "";
      const said = {
        already_admitted: "You are admitted to this project: its tasks come with Next task.",
        being_scored: "Your exam is being scored: your result shows here in a moment.",
      }[code];
      this.workspace.idle(said ?? messageOf(error));
      await this.refresh();
      if (code === "being_scored") await this.awaitDecision(projectId);
    }
  }

  /**
   * After the exam's last task: the standing asked again until review has decided.
   * @param {string} projectId
   */
  async awaitDecision(projectId) {
    /** @param {Standing | undefined} s */
    const decided = (s) => (s ? s.attempts.filter((a) => a.passed !== null).length : 0);
    const before = decided(this.standings.find((s) => s.project_id === projectId));
    const until = Date.now() + FEEDBACK_WAIT_MS;
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 2 * FEEDBACK_POLL_MS));
      await this.refresh();
      const standing = this.standings.find((s) => s.project_id === projectId);
      if (standing && (standing.admitted || decided(standing) > before)) {
        toast(standing.admitted ? "You passed: this project's tasks are yours now." : "Not passed this time: see your result in the Training box.", standing.admitted ? "ok" : "error");
        return;
      }
    }
  }

  /**
   * After a submit in training mode: a training task's feedback (then the next one from the
   * dialog), an exam task's next task at once.
   * @param {Submitted & { stage?: string }} task
   * @param {string} submissionId
   * @param {Annotation["shapes"] | null} shapes what was submitted (a picture's)
   */
  async submitted(task, submissionId, shapes) {
    if (task.stage === "exam") return this.next(task.project_id);
    this.workspace.idle("");
    const feedback = await waitForFeedback(submissionId);
    await this.refresh();
    if (!feedback) {
      toast("The feedback did not come: see your standing in the Training box.", "error");
      return;
    }
    await showFeedback(task, feedback, shapes || []);
  }
}

/** @param {Standing} s */
function describe(s) {
  if (s.stage === "training") return `training: ${s.training_done} of ${s.training_required} done`;
  if (s.stage === "exam") return `exam: ${s.exam_tasks} tasks, pass mark ${percent(s.pass_mark)}`;
  if (s.stage === "waiting") return `exam again from ${s.retry_at ? new Date(s.retry_at).toLocaleString() : "soon"}`;
  const by = s.admitted_by === "exam" ? "by the exam" : s.admitted_by === "training" ? "after training" : "by your vendor";
  return `admitted ${by}`;
}

/** @param {Standing} s */
function classSkills(s) {
  const parts = Object.entries(s.class_skill).map(([name, value]) => `${name} ${percent(value)}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/**
 * A training submission's feedback, asked again while review scores it (404 `not_scored_yet`).
 * @param {string} submissionId
 * @returns {Promise<Feedback | null>}
 */
async function waitForFeedback(submissionId) {
  const until = Date.now() + FEEDBACK_WAIT_MS;
  while (Date.now() < until) {
    try {
      return /** @type {Feedback} */ (await api("review", "GET", `/v1/feedback/${submissionId}`));
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "not_scored_yet")) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, FEEDBACK_POLL_MS));
  }
  return null;
}

/** @type {Record<ShapeVerdict["verdict"], string>} */
const SHAPE_WORDS = { right: "right", off: "not where it should be", wrong_class: "wrong class", missed: "missed", extra: "not in the answer" };

/**
 * A shape's verdict, and for a video clip's track which track and in which frames.
 * @param {ShapeVerdict} v
 * @returns {string}
 */
function sayShape(v) {
  const where = [v.track_id ? `track ${v.track_id}` : "", v.frames ? `frames ${v.frames[0] + 1}–${v.frames[1] + 1}` : ""].filter(Boolean).join(", ");
  return where ? `${sayVerdict(v)} (${where})` : sayVerdict(v);
}

/**
 * @param {ShapeVerdict} v
 * @returns {string}
 */
function sayVerdict(v) {
  if (v.verdict === "right") return `${v.class_name}: right`;
  if (v.verdict === "off") return `${v.class_name}: ${v.offset_px !== null ? `${Math.round(v.offset_px)} px off` : "off"}${v.similarity !== null ? ` (overlap ${percent(v.similarity)})` : ""}`;
  if (v.verdict === "wrong_class") return `drawn as ${v.class_name}, the answer says ${v.expected_class}`;
  if (v.verdict === "missed") return `${v.expected_class}: missed`;
  return `${v.class_name}: ${SHAPE_WORDS.extra}`;
}

/**
 * The feedback dialog: score, both pictures (the person's shapes that went wrong marked),
 * what each shape got, the guidelines, the words of a transcript.
 * @param {Submitted} task
 * @param {Feedback} feedback
 * @param {Annotation["shapes"]} shapes
 */
async function showFeedback(task, feedback, shapes) {
  $("feedback-score").textContent = `${percent(feedback.score)} · ${feedback.right} right, ${feedback.wrong} wrong`;
  clear(
    $("feedback-shapes"),
    feedback.shapes.map((v) =>
      el(
        "li",
        { class: `verdict ${v.verdict}`, dataset: { verdict: v.verdict } },
        el("span", {}, sayShape(v)),
        v.guideline ? el("div", { class: "guideline" }, v.guideline) : null,
      ),
    ),
  );
  clear(
    $("feedback-words"),
    feedback.words.map((w) =>
      el("span", { class: `word ${w.verdict}`, title: w.verdict === "right" ? "" : `${w.verdict}${w.expected ? `: the answer says “${w.expected}”` : ""}` }, w.word ?? `[${w.expected}]`, " "),
    ),
  );
  $("feedback-words").hidden = !feedback.words.length;
  clear($("feedback-instructions"), feedback.instructions || "");
  $("feedback-instructions-box").hidden = !feedback.instructions;
  const pictures = Boolean(feedback.answer) && !task.video && !task.audio;
  $("feedback-side").hidden = !pictures;
  $("feedback-dialog", HTMLDialogElement).showModal();
  if (!pictures || !feedback.answer) return;
  const wrong = feedback.shapes.filter((v) => v.verdict !== "right" && v.shape_index !== null);
  const views = [
    { canvas: $("feedback-yours", HTMLCanvasElement), shapes, errors: wrong.map((v) => ({ shape: Number(v.shape_index), code: v.verdict, message: sayShape(v) })) },
    { canvas: $("feedback-answer", HTMLCanvasElement), shapes: feedback.answer.shapes, errors: [] },
  ];
  for (const view of views) {
    const canvas = new ImageCanvas(view.canvas);
    canvas.setClasses(task.classes);
    await canvas.load(task.image.url, task.image.width, task.image.height, view.shapes);
    canvas.showErrors(view.errors);
  }
}
