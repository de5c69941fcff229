import { createCanvas, paintEllipse, paintLine } from "./canvas";
import type { SyntheticClass, SyntheticTaskSpec } from "./synthetic-task";

const colonClasses: readonly SyntheticClass[] = [
  {
    name: "negative",
    prevalence: 0.6,
    structure: "pink stroma with fibres and few small round nuclei",
  },
  {
    name: "positive",
    prevalence: 0.4,
    structure: "crowded large dark-purple nuclei in gland-like clusters",
  },
];

const stroma = [232, 170, 200] as const;
const nucleus = [95, 45, 130] as const;

/**
 * Synthetic H&E colon patches (RGB): pink stroma with fibres and sparse small nuclei for
 * `negative`, crowded large dark nuclei in gland-like rings for `positive` (tumour). Names follow
 * MedFMC colon files: they contain spaces, and the patient id is the name minus its last 9
 * characters; each patient has 4 patches sharing its label. Lines are `name.png L`.
 */
export const colonSynthetic: SyntheticTaskSpec = {
  name: "colon",
  classes: colonClasses,
  channels: 3,
  imagesPerGroup: 4,
  labelsPerGroup: true,
  fileName(split, index, group) {
    const patient = `synthetic-${split}-${String(group).padStart(4, "0")}_2023-01-01 00_00_00-lv1`;
    return `${patient}-p${String(index).padStart(4, "0")}.png`;
  },
  sampleLabels(random) {
    const positive = random.next() < colonClasses[1].prevalence;
    return Uint8Array.from(positive ? [0, 1] : [1, 0]);
  },
  draw(labels, size, random) {
    const canvas = createCanvas(size, 3, 0);
    const tint = random.uniform(-12, 12);
    for (let i = 0; i < canvas.data.length; i += 3) {
      canvas.data[i] = stroma[0] + tint;
      canvas.data[i + 1] = stroma[1] + tint;
      canvas.data[i + 2] = stroma[2] + tint;
    }
    // Eosinophilic fibres.
    for (let fibre = 0; fibre < 6; fibre += 1) {
      const y = random.next();
      paintLine(canvas, [0, y], [1, y + random.uniform(-0.3, 0.3)], 0.012, -35);
    }
    const positive = labels[1] === 1;
    if (positive) {
      const glands = 3 + random.int(3);
      for (let gland = 0; gland < glands; gland += 1) {
        const cx = random.uniform(0.15, 0.85);
        const cy = random.uniform(0.15, 0.85);
        const radius = random.uniform(0.12, 0.2);
        const count = 12 + random.int(6);
        for (let k = 0; k < count; k += 1) {
          const angle = (k / count) * Math.PI * 2 + random.uniform(-0.2, 0.2);
          const r = random.uniform(0.035, 0.05);
          paintEllipse(
            canvas,
            {
              cx: cx + Math.cos(angle) * radius,
              cy: cy + Math.sin(angle) * radius,
              rx: r,
              ry: r * 1.3,
              edge: 0.4,
            },
            nucleus.map((value) => value - 30),
          );
        }
      }
    } else {
      const count = 10 + random.int(8);
      for (let k = 0; k < count; k += 1) {
        const r = random.uniform(0.012, 0.02);
        paintEllipse(
          canvas,
          { cx: random.next(), cy: random.next(), rx: r, ry: r, edge: 0.4 },
          nucleus,
        );
      }
    }
    for (let i = 0; i < canvas.data.length; i += 1) canvas.data[i] += random.normal() * 6;
    return canvas;
  },
  formatLine(name, labels) {
    return `${name} ${labels.indexOf(1)}`;
  },
};
