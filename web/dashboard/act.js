// @ts-check
// What every button of the dashboard does around its API call.
import { toast } from "/ui/common/common.js";

/**
 * A button's action: the API call, then a toast saying what it did (or the API's refusal),
 * then the table it changed drawn again either way.
 * @param {() => Promise<unknown>} call
 * @param {string} done
 * @param {() => Promise<unknown>} redraw
 */
export async function act(call, done, redraw) {
  try {
    await call();
    toast(done);
  } catch (error) {
    toast(/** @type {Error} */ (error).message, "error");
  }
  await redraw();
}

