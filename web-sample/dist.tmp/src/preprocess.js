// Face crop to model-input bytes, bit for bit as fer-edge's Python runtime
// (runtime/preprocess.py) and the Android core (Preprocess.kt) make them:
// 16-bit fixed-point luma, the square crop around a face box by the model's
// crop rule, an area filter into size x size. Plain ES module.

/** Luma of RGBA (canvas ImageData) or RGB bytes: (R*19595 + G*38470 + B*7471 + 32768) >> 16. */
export function grayFromPixels(pixels, width, height, stride = 4) {
  if (pixels.length !== width * height * stride) throw new Error(`expected ${width * height * stride} bytes`);
  const out = new Uint8Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += stride) {
    out[i] = (pixels[p] * 19595 + pixels[p + 1] * 38470 + pixels[p + 2] * 7471 + 32768) >>> 16;
  }
  return out;
}

/** The square crop [left, top, side, side] around a face box [x, y, w, h], by the crop rule. */
export function cropBox([x, y, w, h], crop) {
  const cx = x + w / 2.0;
  const cy = y + h / 2.0 + crop.shiftY * h;
  const side = crop.scale * (crop.square === false ? (w + h) / 2.0 : Math.max(w, h));
  return [cx - side / 2.0, cy - side / 2.0, side, side];
}

function cellEdges(start, length, size) {
  const e = [];
  for (let k = 0; k <= size; k++) e.push(Math.floor(start + length * k / size));
  const a = e.slice(0, size);
  const b = a.map((v, k) => Math.max(e[k + 1], v + 1));
  return [a, b];
}

/** Area-filter the region [left, top, w, h] of a gray image into size x size; outside, the border repeats. */
export function cut(gray, width, height, region, size) {
  const [x0, x1] = cellEdges(region[0], region[2], size);
  const [y0, y1] = cellEdges(region[1], region[3], size);
  const out = new Uint8Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      let sum = 0;
      for (let yy = y0[i]; yy < y1[i]; yy++) {
        const row = Math.min(Math.max(yy, 0), height - 1) * width;
        for (let xx = x0[j]; xx < x1[j]; xx++) sum += gray[row + Math.min(Math.max(xx, 0), width - 1)];
      }
      const n = (y1[i] - y0[i]) * (x1[j] - x0[j]);
      out[i * size + j] = Math.floor((sum + Math.floor(n / 2)) / n);
    }
  }
  return out;
}

/** The input tensor's data for a crop: uint8 as is, int8 minus 128, float32 pixel values; channels repeated. */
export function inputData(crop, input) {
  const n = crop.length * input.channels;
  const out = input.dtype === 'int8' ? new Int8Array(n) : input.dtype === 'float32' ? new Float32Array(n) : new Uint8Array(n);
  const shift = input.dtype === 'int8' ? 128 : 0;
  for (let i = 0; i < n; i++) out[i] = crop[Math.floor(i / input.channels)] - shift;
  return out;
}
