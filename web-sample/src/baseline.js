// A person's own baseline: a face read against the same person's relaxed face from the same sitting,
// as fer-edge's Python runtime reads it (runtime/baseline.py; constants in runtime/contract.py's
// BaselineRule, checked against the goldens). A face's rise is log max(p, floor) - b per label, b the
// mean of the same over the baseline's faces; it reads as the label whose rise above neutral's is
// largest when that is at least `margin` nats, else neutral.
import { CALIBRATION_FLOOR } from './postprocess.js';

/** The runtime contract's rule; a model's fer_contract.json may carry its own (ruleFrom). */
export const DEFAULT_RULE = Object.freeze({ margin: 1.5, neutral: 'neutral', min_frames: 5, min_photos: 1, window: 300 });

/** The rule of a fer_contract.json `baseline` object, the default where it is absent or out of range. */
export function ruleFrom(doc) {
  if (!doc || typeof doc !== 'object') return DEFAULT_RULE;
  const r = { ...DEFAULT_RULE };
  for (const k of Object.keys(DEFAULT_RULE)) if (typeof doc[k] === typeof DEFAULT_RULE[k]) r[k] = doc[k];
  const int = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
  const ok = r.margin > 0 && r.margin <= 20 && int(r.min_frames, 1, 10000) && int(r.min_photos, 1, 10000)
    && int(r.window, 0, 1000000);
  return ok ? Object.freeze(r) : DEFAULT_RULE;
}

export const logProbs = (p) => Array.from(p, (v) => Math.log(Math.max(v, CALIBRATION_FLOOR)));

const argmax = (p) => { let b = 0; for (let i = 1; i < p.length; i++) if (p[i] > p[b]) b = i; return b; };

/** The mean floored log-probabilities of the faces added (the last `window` of them; 0 = all). */
export class Mean {
  constructor(window = 0) { this.window = window; this.rows = []; }
  get size() { return this.rows.length; }
  add(p) {
    this.rows.push(logProbs(p));
    if (this.window > 0 && this.rows.length > this.window) this.rows.shift();
  }
  value() {
    const out = new Array(this.rows[0].length).fill(0);
    for (const r of this.rows) r.forEach((v, i) => { out[i] += v; });
    return out.map((v) => v / this.rows.length);
  }
}

/** [label index, rises above neutral's] of probabilities `p` against the baseline `base`. */
export function read(p, base, neutral, margin) {
  const lp = logProbs(p);
  const rise = lp.map((v, i) => v - base[i]);
  const n = rise[neutral];
  for (let i = 0; i < rise.length; i++) rise[i] -= n;
  let best = neutral === 0 ? 1 : 0;
  for (let i = 0; i < rise.length; i++) if (i !== neutral && rise[i] > rise[best]) best = i;
  return [rise[best] >= margin ? best : neutral, rise];
}

/** Reads faces for one model: against a fixed reference (`against`), a sitting of photos, or a track's own. */
export class Reader {
  constructor(labels, rule = DEFAULT_RULE) {
    this.labels = labels;
    this.rule = rule;
    this.neutral = labels.indexOf(rule.neutral);
    if (this.neutral < 0) throw new Error(`a baseline needs a '${rule.neutral}' label; this model's labels are ${labels.join(', ')}`);
  }

  against(p, base, mode = 'reference') {
    const [i, rise] = read(p, base.value(), this.neutral, this.rule.margin);
    return { label: this.labels[i], mode, faces: base.size, plain_label: this.labels[argmax(p)], rise };
  }

  plain(p, mode, faces = 0) {
    const label = this.labels[argmax(p)];
    return { label, mode, faces, plain_label: label, rise: null };
  }

  /** One sitting of photos of one person (the largest face of each): each against the others that read neutral plainly. */
  photos(probs) {
    const neutralPlain = probs.map((p) => argmax(p) === this.neutral);
    return probs.map((p, i) => {
      const base = new Mean();
      probs.forEach((q, j) => { if (j !== i && neutralPlain[j]) base.add(q); });
      return base.size >= this.rule.min_photos ? this.against(p, base, 'auto') : this.plain(p, 'auto', base.size);
    });
  }
}

/** The automatic baseline of one track: frames that read neutral join it; it goes with the track. */
export class Track {
  constructor(reader) { this.reader = reader; this.base = new Mean(reader.rule.window); }
  read(p) {
    const r = this.base.size >= this.reader.rule.min_frames ? this.reader.against(p, this.base, 'auto')
      : this.reader.plain(p, 'auto', this.base.size);
    if (r.label === this.reader.labels[this.reader.neutral]) this.base.add(p);
    return r;
  }
}
