/** One line of a chart. */
export interface ChartSeries {
  /** Legend label. */
  name: string;
  /** `[x, y]` points, in drawing order. */
  points: ReadonlyArray<readonly [number, number]>;
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  title: string;
  series: readonly ChartSeries[];
  xLabel: string;
  yLabel: string;
  /** Fixed y range (e.g. `[0, 1]` for metrics); default: the data's range. */
  yRange?: readonly [number, number];
  /** Fixed x range; default: the data's range. */
  xRange?: readonly [number, number];
  width?: number;
  height?: number;
  /** Draw the diagonal y = x (ROC charts). */
  diagonal?: boolean;
}

const palette = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
];

/** Escapes text for HTML and SVG content and attributes. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step)
    ticks.push(Number(t.toFixed(10)));
  return ticks;
}

function extent(values: number[], fallback: readonly [number, number]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [...fallback];
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (low === high) {
    low -= 0.5;
    high += 0.5;
  }
  return [low, high];
}

/**
 * A self-contained SVG line chart (axes, ticks, one `<path>` per series, legend). Non-finite
 * points are skipped.
 */
export function lineChartSvg(options: LineChartOptions): string {
  const width = options.width ?? 420;
  const height = options.height ?? 260;
  const margin = { left: 52, right: 12, top: 28, bottom: 40 };
  const all = options.series.flatMap((series) => series.points);
  const [x0, x1] =
    options.xRange ??
    extent(
      all.map((p) => p[0]),
      [0, 1],
    );
  const [y0, y1] =
    options.yRange ??
    extent(
      all.map((p) => p[1]),
      [0, 1],
    );
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * plotWidth;
  const sy = (y: number) => margin.top + plotHeight - ((y - y0) / (y1 - y0 || 1)) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">${escapeHtml(options.title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="#fafafa" stroke="#999"/>`,
  ];
  for (const tick of niceTicks(y0, y1)) {
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${sy(tick).toFixed(1)}" y2="${sy(tick).toFixed(1)}" stroke="#e3e3e3"/>`,
      `<text x="${margin.left - 6}" y="${(sy(tick) + 4).toFixed(1)}" text-anchor="end" font-size="10">${tick}</text>`,
    );
  }
  for (const tick of niceTicks(x0, x1)) {
    parts.push(
      `<text x="${sx(tick).toFixed(1)}" y="${margin.top + plotHeight + 14}" text-anchor="middle" font-size="10">${tick}</text>`,
    );
  }
  parts.push(
    `<text x="${margin.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle" font-size="11">${escapeHtml(options.xLabel)}</text>`,
    `<text transform="translate(12 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeHtml(options.yLabel)}</text>`,
  );
  if (options.diagonal) {
    parts.push(
      `<path d="M${sx(x0).toFixed(1)},${sy(y0).toFixed(1)}L${sx(x1).toFixed(1)},${sy(y1).toFixed(1)}" stroke="#bbb" stroke-dasharray="4 3" fill="none"/>`,
    );
  }
  options.series.forEach((series, index) => {
    const color = palette[index % palette.length];
    const d = series.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], i) => `${i === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join("");
    if (d)
      parts.push(
        `<path class="series" d="${d}" stroke="${color}" stroke-width="1.8" fill="none"/>`,
      );
    parts.push(
      `<rect x="${margin.left + 8}" y="${margin.top + 6 + index * 14}" width="10" height="3" fill="${color}"/>`,
      `<text x="${margin.left + 22}" y="${margin.top + 11 + index * 14}" font-size="10">${escapeHtml(series.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
