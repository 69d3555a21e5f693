// Model output to labelled probabilities (as runtime/classifier.py and Postprocess.kt).

/** Dequantize the raw output with the output tensor's own scale and zero point (float outputs pass through). */
export function dequantize(raw, output) {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    out[i] = output.scale && output.dtype !== 'float32' ? (raw[i] - output.zeroPoint) * output.scale : raw[i];
  }
  return out;
}

/** Probabilities below this are raised to it before temperature scaling (runtime/contract.py). */
export const CALIBRATION_FLOOR = 1 / 512;

/** Temperature scaling as every fer-edge runtime applies it: softmax(log(max(p, floor)) / T). */
export function calibrate(probabilities, temperature) {
  if (temperature === 1.0) return probabilities;
  const z = Array.from(probabilities, (p) => Math.log(Math.max(p, CALIBRATION_FLOOR)) / temperature);
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return Float32Array.from(e, (v) => v / sum);
}

/** {label, index, probabilities}; checks the output is a probability vector (softmax inside the model). */
export function label(probabilities, contract, tolerance = 0.05) {
  if (probabilities.length !== contract.labels.length) {
    throw new Error(`model gives ${probabilities.length} outputs for ${contract.labels.length} labels`);
  }
  let sum = 0;
  let best = 0;
  for (let i = 0; i < probabilities.length; i++) {
    sum += probabilities[i];
    if (probabilities[i] > probabilities[best]) best = i;
  }
  if (Math.abs(sum - 1) > tolerance || Array.from(probabilities).some((p) => p < -1e-6)) {
    throw new Error(`output is not a probability vector (sum ${sum})`);
  }
  return { label: contract.labels[best], index: best, probabilities: Array.from(probabilities) };
}
