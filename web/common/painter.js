// @ts-check
// How the canvas layer (canvas.js) draws shapes over the image, in screen pixels: each kind
// in its class's colour, masks tinted (rle.js), a model's proposals dashed and translucent
// with their confidence, the selected shape's handles, the shape being drawn.

import { corners, handles, lineOf } from "/ui/common/geometry.js";
import { maskPicture, outlineOf } from "/ui/common/rle.js";

/** @typedef {import("./canvas.js").ImageCanvas} ImageCanvas */
/** @typedef {import("./canvas.js").Point} Point */
/** @typedef {import("./canvas.js").Shape} Shape */
/** @typedef {import("./canvas.js").ShapeSource} ShapeSource */

const PALETTE = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#9d4edd", "#06d6a0", "#ef476f", "#ffd166"];
export const HANDLE = 6; // screen pixels

/**
 * @param {number} classId
 * @returns {string}
 */
export function colorOf(classId) {
  return colours.get(classId) ?? paletteColour(classId);
}

/** The palette's colour for a class without its own. @param {number} classId */
export function paletteColour(classId) {
  return PALETTE[(classId - 1) % PALETTE.length];
}

/** The ontology's own colours, by class id (a page shows one project's classes at a time). */
const colours = new Map();

/**
 * Take the classes' own colours (`colour`, set in the project's ontology).
 * @param {{ id: number, colour?: string | null }[]} classes
 */
export function setColours(classes) {
  colours.clear();
  for (const c of classes) if (c.colour) colours.set(c.id, c.colour);
}

/**
 * A model's shape as the page names it: its class and the model's confidence ("car 0.62").
 * @param {string} name
 * @param {ShapeSource | null | undefined} source
 */
export function proposalLabel(name, source) {
  if (typeof source?.confidence === "number") return `${name} ${source.confidence.toFixed(2)}`;
  return source?.model ? `${name} · ${source.model}` : name;
}

/**
 * @param {ImageCanvas} view
 * @param {(readonly number[])[]} points
 * @param {boolean} close
 */
export function path(view, points, close) {
  const ctx = view.ctx;
  ctx.beginPath();
  points.forEach((p, i) => {
    const [x, y] = view.toScreen(p);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  if (close) ctx.closePath();
}

/**
 * @param {ImageCanvas} view
 * @param {Shape} shape
 * @param {boolean} selected
 * @param {string | undefined} error the API's complaint about this shape
 * @param {boolean} [proposal] a model's proposal: dashed and translucent, with its confidence
 */
export function drawShape(view, shape, selected, error, proposal = false) {
  const ctx = view.ctx;
  const color = error ? "#ff4d4d" : colorOf(shape.class_id);
  ctx.lineWidth = selected ? 3 : 2;
  ctx.strokeStyle = color;
  ctx.fillStyle = color + (proposal ? "1a" : "33");
  ctx.globalAlpha = proposal && !selected ? 0.75 : 1;
  ctx.setLineDash(shape.interpolated || proposal ? [6, 4] : []);
  /** @type {Point | null} */
  let anchor = null;
  if (shape.kind === "bbox" && shape.rotation) {
    const outline = corners(shape);
    path(view, outline, true);
    ctx.fill();
    ctx.stroke();
    anchor = view.toScreen(outline[0]);
  } else if (shape.kind === "bbox") {
    const [x, y, w, h] = shape.bbox;
    const [sx, sy] = view.toScreen([x, y]);
    ctx.fillRect(sx, sy, w * view.scale, h * view.scale);
    ctx.strokeRect(sx, sy, w * view.scale, h * view.scale);
    anchor = [sx, sy];
  } else if (shape.kind === "polygon" || shape.kind === "polyline") {
    path(view, lineOf(shape), shape.kind === "polygon");
    if (shape.kind === "polygon") ctx.fill();
    ctx.stroke();
    anchor = view.toScreen(shape.points[0]);
  } else if (shape.kind === "keypoints") {
    const skeleton = view.classes.get(shape.class_id)?.skeleton;
    for (const [a, b] of skeleton?.edges || []) {
      const [p, q] = [shape.keypoints[a - 1], shape.keypoints[b - 1]];
      if (p && q && p[2] > 0 && q[2] > 0) {
        path(view, [p, q], false);
        ctx.stroke();
      }
    }
    for (const k of shape.keypoints.filter((k) => k[2] > 0)) {
      const [x, y] = view.toScreen(k);
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, Math.PI * 2);
      if (k[2] === 1) ctx.stroke(); // hidden (occluded): a ring, not a dot
      else {
        ctx.fillStyle = color;
        ctx.fill();
      }
    }
    const first = shape.keypoints.find((k) => k[2] > 0);
    anchor = first ? view.toScreen(first) : null;
  } else if (shape.kind === "mask") {
    const picture = maskPicture(shape.rle, color);
    if (picture) {
      const [x, y, w, h] = picture.box;
      const [sx, sy] = view.toScreen([x, y]);
      ctx.drawImage(picture.canvas, sx, sy, w * view.scale, h * view.scale);
      anchor = [sx, sy];
    }
    const outline = outlineOf(shape.rle);
    if (outline && outline.length > 2) {
      path(view, outline, true);
      ctx.stroke();
    }
  }
  ctx.setLineDash([]);
  if (selected) {
    ctx.fillStyle = "#ffffff";
    for (const h of handles(shape)) {
      const [x, y] = view.toScreen(h);
      ctx.fillRect(x - HANDLE / 2, y - HANDLE / 2, HANDLE, HANDLE);
    }
  }
  const name = view.classes.get(shape.class_id)?.name || `class ${shape.class_id}`;
  const text = proposal ? proposalLabel(name, shape.source) : name;
  if (anchor) label(ctx, anchor, error ? `${text}: ${error}` : text, color);
  ctx.globalAlpha = 1;
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {Point} anchor
 * @param {string} text
 * @param {string} color
 */
export function label(ctx, [x, y], text, color) {
  ctx.font = "12px system-ui, sans-serif";
  const width = ctx.measureText(text).width + 8;
  ctx.fillStyle = color;
  ctx.fillRect(x, y - 18, width, 16);
  ctx.fillStyle = "#111";
  ctx.fillText(text, x + 4, y - 6);
}

/** @param {ImageCanvas} view the shape being drawn */
export function drawDraft(view) {
  const ctx = view.ctx;
  const d = view.draft;
  if (!d) return;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = colorOf(d.class_id);
  ctx.lineWidth = 2;
  if (d.kind === "bbox") {
    const [a, b] = [view.toScreen(d.start), view.toScreen(d.end)];
    ctx.strokeRect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
  } else if ("points" in d) {
    path(view, view.hover ? [...d.points, view.hover] : d.points, false);
    ctx.stroke();
  } else if ("keypoints" in d) {
    for (const k of d.keypoints) {
      const [x, y] = view.toScreen(k);
      if (k[2] === 1) ctx.strokeRect(x - 2, y - 2, 4, 4); // hidden
      else ctx.strokeRect(x - 3, y - 3, 6, 6);
    }
  }
  ctx.setLineDash([]);
}
