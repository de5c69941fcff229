import type { AnnotationStats, SplitComparison } from "./annotation-stats";

const palette = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2"];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

/** The largest of `floor` and `values`, by a loop (a spread of many values overflows the stack). */
function maxOf(floor: number, values: Iterable<number>): number {
  let max = floor;
  for (const value of values) if (value > max) max = value;
  return max;
}

const round = (value: number) => Math.round(value * 10) / 10;

/** A horizontal bar chart of positives per class (the seed's "class counts" EDA figure), as SVG text. */
export function classCountsSvg(stats: AnnotationStats, options: { title?: string } = {}): string {
  const rowHeight = 20;
  const labelWidth =
    10 +
    7 *
      maxOf(
        4,
        stats.classes.map((name) => name.length),
      );
  const barWidth = 420;
  const width = labelWidth + barWidth + 70;
  const height = 40 + rowHeight * stats.classes.length + 20;
  const max = maxOf(1, stats.positives);
  const body = stats.classes.flatMap((className, index) => {
    const y = 36 + index * rowHeight;
    const length = round((stats.positives[index] / max) * barWidth);
    return [
      `<text x="${labelWidth - 6}" y="${y + 14}" text-anchor="end">${escapeXml(className)}</text>`,
      `<rect x="${labelWidth}" y="${y + 3}" width="${length}" height="${rowHeight - 6}" fill="${palette[0]}"><title>${escapeXml(className)}: ${stats.positives[index]}</title></rect>`,
      `<text x="${labelWidth + length + 4}" y="${y + 14}">${stats.positives[index]}</text>`,
    ];
  });
  return svgDocument(
    width,
    height,
    options.title ?? `Positives per class (${stats.count} images)`,
    body,
  );
}

/** A histogram of labels per image (the seed's "labels per image" EDA figure), as SVG text. */
export function cardinalitySvg(stats: AnnotationStats, options: { title?: string } = {}): string {
  const histogram = stats.cardinality.histogram;
  const columnWidth = 40;
  const plotHeight = 220;
  const width = 60 + columnWidth * histogram.length + 20;
  const height = 40 + plotHeight + 50;
  const max = maxOf(1, histogram);
  const base = 40 + plotHeight;
  const body = histogram.flatMap((count, labels) => {
    const x = 60 + labels * columnWidth;
    const barHeight = round((count / max) * plotHeight);
    return [
      `<rect x="${x + 4}" y="${round(base - barHeight)}" width="${columnWidth - 8}" height="${barHeight}" fill="${palette[1]}"><title>${labels} labels: ${count} images</title></rect>`,
      `<text x="${x + columnWidth / 2}" y="${round(base - barHeight - 4)}" text-anchor="middle">${count}</text>`,
      `<text x="${x + columnWidth / 2}" y="${base + 16}" text-anchor="middle">${labels}</text>`,
    ];
  });
  body.push(
    `<line x1="60" y1="${base}" x2="${width - 20}" y2="${base}" stroke="black"/>`,
    `<text x="${(width + 40) / 2}" y="${base + 36}" text-anchor="middle">labels per image (mean ${stats.cardinality.mean.toFixed(2)})</text>`,
  );
  return svgDocument(width, height, options.title ?? "Labels per image", body);
}

/** A heat map of the co-occurrence matrix, as SVG text. */
export function coOccurrenceSvg(stats: AnnotationStats, options: { title?: string } = {}): string {
  const cell = 22;
  const labelWidth =
    10 +
    7 *
      maxOf(
        4,
        stats.classes.map((name) => name.length),
      );
  const size = stats.classes.length;
  const width = labelWidth + cell * size + 20;
  const height = 40 + cell * size + labelWidth;
  const max = maxOf(
    1,
    stats.coOccurrence.flatMap((row, i) => row.filter((_, j) => j !== i)),
  );
  const body: string[] = [];
  stats.classes.forEach((className, i) => {
    const y = 36 + i * cell;
    body.push(
      `<text x="${labelWidth - 6}" y="${y + 15}" text-anchor="end">${escapeXml(className)}</text>`,
    );
    const x = labelWidth + i * cell + 15;
    body.push(
      `<text x="${x}" y="${36 + size * cell + 6}" transform="rotate(90 ${x} ${36 + size * cell + 6})">${escapeXml(className)}</text>`,
    );
    stats.coOccurrence[i].forEach((count, j) => {
      const shade = i === j ? 0 : Math.min(1, count / max);
      const fill =
        i === j
          ? "#dddddd"
          : `rgb(${round(255 - 179 * shade)},${round(255 - 135 * shade)},${round(255 - 87 * shade)})`;
      body.push(
        `<rect x="${labelWidth + j * cell}" y="${y}" width="${cell - 1}" height="${cell - 1}" fill="${fill}"><title>${escapeXml(className)} + ${escapeXml(stats.classes[j])}: ${count}</title></rect>`,
      );
    });
  });
  return svgDocument(width, height, options.title ?? "Label co-occurrence", body);
}

/** Grouped bars of each class's positive share per list (train/val/test), as SVG text. */
export function splitComparisonSvg(
  comparison: SplitComparison,
  options: { title?: string } = {},
): string {
  const groupHeight = 8 + 12 * comparison.rows.length;
  const labelWidth =
    10 +
    7 *
      maxOf(
        4,
        comparison.classes.map((name) => name.length),
      );
  const barWidth = 400;
  const width = labelWidth + barWidth + 70;
  const height = 60 + groupHeight * comparison.classes.length + 20 * comparison.rows.length;
  const max = maxOf(
    0.01,
    comparison.rows.flatMap((row) => row.shares),
  );
  const body: string[] = [];
  comparison.classes.forEach((className, label) => {
    const y = 36 + label * groupHeight;
    body.push(
      `<text x="${labelWidth - 6}" y="${y + groupHeight / 2 + 4}" text-anchor="end">${escapeXml(className)}</text>`,
    );
    comparison.rows.forEach((row, index) => {
      const length = round((row.shares[label] / max) * barWidth);
      body.push(
        `<rect x="${labelWidth}" y="${y + 4 + index * 12}" width="${length}" height="10" fill="${palette[index % palette.length]}"><title>${escapeXml(row.name)} ${escapeXml(className)}: ${row.positives[label]} of ${row.count}</title></rect>`,
      );
    });
  });
  const legendY = 36 + comparison.classes.length * groupHeight + 10;
  comparison.rows.forEach((row, index) => {
    const y = legendY + index * 20;
    body.push(
      `<rect x="${labelWidth}" y="${y}" width="12" height="12" fill="${palette[index % palette.length]}"/>`,
      `<text x="${labelWidth + 18}" y="${y + 11}">${escapeXml(row.name)} (${row.count})</text>`,
    );
  });
  return svgDocument(width, height, options.title ?? "Positive share per class by list", body);
}
