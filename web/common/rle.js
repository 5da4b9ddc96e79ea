// @ts-check
// Masks as COCO writes them, decoded in the browser to be drawn, tinted and hit-tested. A
// mask is run-length encoded (`client/aviary/contracts/shapes.py`, `Rle`): `size` is
// [height, width]; `counts` the run lengths column by column (COCO's order: down the first
// column, then the next), starting with a run of zeros, either as a list of numbers or as
// COCO's compressed string (pycocotools' `rleToString`). Decoded masks are cached by their
// encoding, so a page redrawn at every mouse move decodes each mask once.

/** @typedef {{ size: [number, number], counts: string | number[] }} Rle */
/**
 * A decoded mask: `bits` row by row (1 inside), and the box around what it covers (null for
 * an empty mask), in image pixels.
 * @typedef {{ width: number, height: number, bits: Uint8Array, box: [number, number, number, number] | null }} Mask
 */
/** @typedef {{ mask: Mask, pictures: Map<string, HTMLCanvasElement>, outline: [number, number][] | null }} Entry */

const CACHE_SIZE = 64;
/** @type {Map<string, Entry>} */
const cache = new Map();

/**
 * The run lengths of COCO's compressed string: each number in 6-bit chunks (5 bits of value,
 * 1 of "more"), each chunk a character (48, the digit zero, plus the chunk); from the fourth
 * run on, each is sent as the difference from the one two places back.
 * @param {string} text
 * @returns {number[]}
 */
export function countsOfString(text) {
  /** @type {number[]} */
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= text.length) throw new Error("the mask's counts end in the middle of a number");
      const c = text.charCodeAt(p) - 48;
      x += (c & 0x1f) * 2 ** (5 * k); // arithmetic, not bit shifts: runs may need over 32 bits
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k); // the sign bit of the last chunk
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/**
 * @param {Rle} rle
 * @returns {Mask}
 */
export function decodeRle(rle) {
  const [height, width] = rle.size;
  const counts = typeof rle.counts === "string" ? countsOfString(rle.counts) : rle.counts;
  const bits = new Uint8Array(width * height);
  const total = width * height;
  let [left, top, right, bottom] = [width, height, -1, -1];
  let at = 0;
  for (let i = 0; i < counts.length && at < total; i++) {
    const end = Math.min(total, at + counts[i]);
    if (i % 2 === 1 && end > at) {
      // A run of ones, down the columns: pixel n is row n % height of column n / height.
      for (let n = at; n < end; n++) bits[(n % height) * width + Math.floor(n / height)] = 1;
      left = Math.min(left, Math.floor(at / height));
      right = Math.max(right, Math.floor((end - 1) / height));
      // A run spanning a whole column covers every row.
      const [first, last] = [at % height, (end - 1) % height];
      const wraps = Math.floor((end - 1) / height) > Math.floor(at / height);
      top = Math.min(top, wraps ? 0 : first);
      bottom = Math.max(bottom, wraps ? height - 1 : last);
    }
    at = end;
  }
  return { width, height, bits, box: right < 0 ? null : [left, top, right - left + 1, bottom - top + 1] };
}

/** @param {Rle} rle */
function keyOf(rle) {
  const counts = typeof rle.counts === "string" ? rle.counts : rle.counts.join(",");
  return `${rle.size[0]}x${rle.size[1]}:${counts}`;
}

/**
 * @param {Rle} rle
 * @returns {Entry}
 */
function entry(rle) {
  const key = keyOf(rle);
  let found = cache.get(key);
  if (found) {
    cache.delete(key); // most recently used last
  } else {
    found = { mask: decodeRle(rle), pictures: new Map(), outline: null };
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value ?? "");
  }
  cache.set(key, found);
  return found;
}

/**
 * @param {Rle} rle
 * @returns {Mask}
 */
export function maskOf(rle) {
  return entry(rle).mask;
}

/**
 * The mask's picture over its box: the inside tinted with `color` (#rrggbb), its border
 * opaque, so a mask reads like the other shapes' fill and outline.
 * @param {Rle} rle
 * @param {string} color
 * @returns {{ canvas: HTMLCanvasElement, box: [number, number, number, number] } | null} null for an empty mask
 */
export function maskPicture(rle, color) {
  const found = entry(rle);
  const { mask } = found;
  if (!mask.box) return null;
  let picture = found.pictures.get(color);
  if (!picture) {
    const [bx, by, bw, bh] = mask.box;
    picture = document.createElement("canvas");
    picture.width = bw;
    picture.height = bh;
    const ctx = picture.getContext("2d");
    if (!ctx) return null;
    const image = ctx.createImageData(bw, bh);
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
    const inside = (/** @type {number} */ x, /** @type {number} */ y) =>
      x >= 0 && y >= 0 && x < mask.width && y < mask.height && mask.bits[y * mask.width + x] === 1;
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        const [ix, iy] = [bx + x, by + y];
        if (!inside(ix, iy)) continue;
        const border = !inside(ix - 1, iy) || !inside(ix + 1, iy) || !inside(ix, iy - 1) || !inside(ix, iy + 1);
        const o = (y * bw + x) * 4;
        image.data.set([r, g, b, border ? 255 : 80], o);
      }
    }
    ctx.putImageData(image, 0, 0);
    found.pictures.set(color, picture);
  }
  return { canvas: picture, box: mask.box };
}

/**
 * Whether the mask covers an image point.
 * @param {Rle} rle
 * @param {readonly number[]} point
 */
export function maskContains(rle, [x, y]) {
  const { mask } = entry(rle);
  const [ix, iy] = [Math.floor(x), Math.floor(y)];
  return ix >= 0 && iy >= 0 && ix < mask.width && iy < mask.height && mask.bits[iy * mask.width + ix] === 1;
}

/**
 * The outline the segmenter gave with a mask (its polygon), drawn over it as a line; a mask
 * that came without one (a pre-label) shows its border pixels only.
 * @param {Rle} rle
 * @param {[number, number][]} points
 */
export function rememberOutline(rle, points) {
  entry(rle).outline = points;
}

/**
 * @param {Rle} rle
 * @returns {[number, number][] | null}
 */
export function outlineOf(rle) {
  return entry(rle).outline;
}
