import * as tf from "@tensorflow/tfjs";

// Window bookkeeping of timm's swin_transformer.py, function for function. Reshapes stay at rank 5
// or below so every tfjs backend (wasm included) runs them.

/** A height and a width (timm's `(h, w)` tuples). */
export type Size2 = readonly [number, number];

/**
 * timm's `window_partition`, flattened: `[B, H, W, C]` → `[B·nWindows, wh·ww, C]`, windows in
 * row-major order within each image. H and W must be multiples of the window.
 */
export function windowPartition(x: tf.Tensor4D, window: Size2): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, height, width, channels] = x.shape;
    const [windowHeight, windowWidth] = window;
    const rows = tf.reshape(x, [
      (batch * height) / windowHeight,
      windowHeight,
      width / windowWidth,
      windowWidth,
      channels,
    ]);
    return tf.reshape(tf.transpose(rows, [0, 2, 1, 3, 4]), [
      -1,
      windowHeight * windowWidth,
      channels,
    ]) as tf.Tensor3D;
  });
}

/** timm's `window_reverse`: `[B·nWindows, wh·ww, C]` → `[B, H, W, C]`. */
export function windowReverse(
  windows: tf.Tensor3D,
  window: Size2,
  height: number,
  width: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [windowHeight, windowWidth] = window;
    const channels = windows.shape[2];
    const grid = tf.reshape(windows, [
      -1,
      width / windowWidth,
      windowHeight,
      windowWidth,
      channels,
    ]);
    return tf.reshape(tf.transpose(grid, [0, 2, 1, 3, 4]), [
      -1,
      height,
      width,
      channels,
    ]) as tf.Tensor4D;
  });
}

/**
 * `torch.roll(x, shifts=(shiftH, shiftW), dims=(1, 2))` on NHWC: element i moves to i + shift
 * (mod size). Negative shifts roll the other way, as in the cyclic shift before window attention.
 */
export function roll(x: tf.Tensor4D, shift: Size2): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    for (const axis of [1, 2] as const) {
      const size = y.shape[axis];
      const amount = (((shift[axis - 1] % size) + size) % size) as number;
      if (amount === 0) continue;
      const [head, tail] = tf.split(y, [size - amount, amount], axis);
      y = tf.concat([tail, head], axis) as tf.Tensor4D;
    }
    return y;
  });
}

/**
 * timm's `get_relative_position_index`: for each query/key pair inside a window, the row of the
 * relative position bias table, `(dy + wh − 1)·(2ww − 1) + dx + ww − 1`. Length `(wh·ww)²`.
 */
export function relativePositionIndex(window: Size2): Int32Array {
  const [windowHeight, windowWidth] = window;
  const area = windowHeight * windowWidth;
  const index = new Int32Array(area * area);
  for (let query = 0; query < area; query += 1) {
    const queryRow = Math.floor(query / windowWidth);
    const queryColumn = query % windowWidth;
    for (let key = 0; key < area; key += 1) {
      const keyRow = Math.floor(key / windowWidth);
      const keyColumn = key % windowWidth;
      index[query * area + key] =
        (queryRow - keyRow + windowHeight - 1) * (2 * windowWidth - 1) +
        (queryColumn - keyColumn + windowWidth - 1);
    }
  }
  return index;
}

/**
 * The relative position index as a one-hot `[(wh·ww)², (2wh−1)·(2ww−1)]` matrix, so the bias
 * lookup is one matMul: its gradient is a matMul too, where `gather`'s needs a scatter
 * (UnsortedSegmentSum) that the wasm backend lacks.
 */
export function relativePositionOneHot(window: Size2): tf.Tensor2D {
  const index = relativePositionIndex(window);
  const tableRows = (2 * window[0] - 1) * (2 * window[1] - 1);
  const values = new Float32Array(index.length * tableRows);
  index.forEach((row, pair) => {
    values[pair * tableRows + row] = 1;
  });
  return tf.tensor2d(values, [index.length, tableRows]);
}

/**
 * timm's `SwinTransformerBlock.get_attn_mask` for a (padded) `height × width` map: 0 where a
 * query and a key of a shifted window came from the same region of the unshifted map, −100
 * elsewhere. `[nWindows, wh·ww, wh·ww]`, windows in {@link windowPartition}'s order.
 */
export function shiftedWindowMask(
  height: number,
  width: number,
  window: Size2,
  shift: Size2,
): Float32Array {
  // timm labels regions by slicing `img_mask[:, h0:h1, w0:w1]` with the slices (0, −window),
  // (−window, −shift), (−shift, None), later slices overwriting earlier ones. Python's slice
  // rules are kept literally: with a shift of 0, (−0, None) covers the whole side.
  const bounds = (size: number, windowSide: number, shiftSide: number) =>
    [
      [0, -windowSide],
      [-windowSide, -shiftSide],
      [-shiftSide, undefined],
    ].map(([start, end]) => {
      const resolve = (value: number) => (value < 0 ? Math.max(size + value, 0) : value);
      return [resolve(start as number), end === undefined ? size : resolve(end)] as const;
    });
  const image = new Int32Array(height * width);
  let count = 0;
  for (const [rowStart, rowEnd] of bounds(height, window[0], shift[0])) {
    for (const [columnStart, columnEnd] of bounds(width, window[1], shift[1])) {
      for (let row = rowStart; row < rowEnd; row += 1) {
        image.fill(
          count,
          row * width + columnStart,
          row * width + Math.max(columnStart, columnEnd),
        );
      }
      count += 1;
    }
  }
  const [windowHeight, windowWidth] = window;
  const area = windowHeight * windowWidth;
  const windowsDown = height / windowHeight;
  const windowsAcross = width / windowWidth;
  const mask = new Float32Array(windowsDown * windowsAcross * area * area);
  const labels = new Int32Array(area);
  for (let windowRow = 0; windowRow < windowsDown; windowRow += 1) {
    for (let windowColumn = 0; windowColumn < windowsAcross; windowColumn += 1) {
      for (let token = 0; token < area; token += 1) {
        const row = windowRow * windowHeight + Math.floor(token / windowWidth);
        const column = windowColumn * windowWidth + (token % windowWidth);
        labels[token] = image[row * width + column];
      }
      const offset = (windowRow * windowsAcross + windowColumn) * area * area;
      for (let query = 0; query < area; query += 1) {
        for (let key = 0; key < area; key += 1) {
          mask[offset + query * area + key] = labels[query] === labels[key] ? 0 : -100;
        }
      }
    }
  }
  return mask;
}

/**
 * timm's `SwinTransformerBlock._calc_window_shift`: a side of the feature map not larger than
 * the window shrinks the window to it and turns the shift off, unless `alwaysPartition`.
 */
export function blockWindowAndShift(
  resolution: Size2,
  targetWindow: Size2,
  targetShift: Size2,
  alwaysPartition: boolean,
): { window: Size2; shift: Size2 } {
  if (alwaysPartition) return { window: targetWindow, shift: targetShift };
  const window: Size2 = [
    Math.min(resolution[0], targetWindow[0]),
    Math.min(resolution[1], targetWindow[1]),
  ];
  const shift: Size2 = [
    resolution[0] <= window[0] ? 0 : targetShift[0],
    resolution[1] <= window[1] ? 0 : targetShift[1],
  ];
  return { window, shift };
}
