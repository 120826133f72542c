// Long work off the page's thread: jobs for the engine's worker (worker.js), one at a time,
// with progress, the time left and cancel. A new job supersedes the one running: that job's
// worker is ended (wasm cannot be interrupted otherwise), its promise rejects with
// `Superseded`, and the next job starts a fresh worker with the model loaded again. Ending a
// worker also gives back all the memory it held.
import { engineWorker, loadMessage } from './runtime.js';

/** What a job that was cancelled or superseded rejects with: not a failure to show. */
export class Superseded extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Superseded';
  }
}

export const superseded = (e) => e instanceof Superseded;

/** `{done, total}` of a job, as the time left in words. */
export function timeLeft({ done, total }, seconds) {
  if (!done || done >= total) return '';
  const left = (seconds * (total - done)) / done;
  return left < 1.5 ? 'about a second left' : `about ${Math.round(left)} s left`;
}

const ids = new WeakMap(); // decoded image -> its id for the worker
let nextImage = 1;

/** A client of one engine worker. `source()` gives `{backend, bytes, onnx}` of the page's
 * model; `modelChanged()` must be called when it changes. */
export function longWork(source) {
  let worker = null;
  let loaded = null; // Promise of the worker's model
  let imageKey = null; // the image the worker has analysed
  let running = null; // { id, reject }
  let seq = 0;

  function end() {
    worker?.terminate();
    worker = null;
    loaded = null;
    imageKey = null;
  }

  function start() {
    worker = engineWorker();
    const w = worker;
    loaded = new Promise((ok, bad) => {
      w.onmessage = (e) => {
        const msg = e.data;
        if (msg.type === 'loaded') ok();
        else if (msg.type === 'error' && msg.id === undefined) bad(new Error(msg.message));
        else handle?.(msg);
      };
      w.onerror = (e) => {
        const err = new Error(`the engine's worker failed: ${e.message || 'unknown error'}`);
        bad(err);
        handle?.({ type: 'error', id: running?.id, message: err.message });
      };
    });
    w.postMessage(...loadMessage(source()));
    loaded.catch(() => {});
  }

  let handle = null;

  return {
    /** Run `job` (`{op, pane, method, cls, against, layer, raw}`) on `image` (a decoded image)
     * with `fit`; `onProgress({done, total, seconds})`. Resolves with `{value, raw}`. */
    async run(job, image, fit, onProgress) {
      this.cancel();
      const id = ++seq;
      const t0 = performance.now();
      return new Promise((resolve, reject) => {
        running = { id, reject };
        const go = async () => {
          if (!worker) start();
          await loaded;
          if (running?.id !== id) return;
          if (!ids.has(image)) ids.set(image, nextImage++);
          const key = `${ids.get(image)}/${fit}`;
          const sent = { key, name: image.name, width: image.width, height: image.height, fit };
          if (imageKey !== key) sent.rgba = image.rgba;
          handle = (msg) => {
            if (msg.id !== id || running?.id !== id) return;
            if (msg.type === 'progress') onProgress?.({ done: msg.done, total: msg.total, seconds: (performance.now() - t0) / 1000 });
            else if (msg.type === 'result') {
              running = null;
              resolve({ value: msg.value, raw: msg.raw });
            } else if (msg.type === 'error') {
              running = null;
              // The worker may hold a half-done image: start clean next time.
              imageKey = null;
              reject(new Error(msg.message));
            }
          };
          imageKey = key;
          worker.postMessage({ type: 'attention', id, ...job, image: sent });
        };
        go().catch((e) => {
          if (running?.id === id) running = null;
          end();
          reject(e);
        });
      });
    },
    /** Stop the job running, if any (its promise rejects with `Superseded`). */
    cancel() {
      if (!running) return false;
      const { reject } = running;
      running = null;
      end();
      reject(new Superseded());
      return true;
    },
    /** Whether a job is running. */
    busy: () => running !== null,
    /** The page's model changed: the worker's copy is dropped. */
    modelChanged() {
      this.cancel();
      end();
    },
  };
}
