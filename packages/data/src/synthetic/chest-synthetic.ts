import type { Random } from "../random";
import { chestTask } from "../tasks";
import { type Canvas, createCanvas, ellipseCoverage, paintEllipse, paintLine } from "./canvas";
import type { SyntheticClass, SyntheticTaskSpec } from "./synthetic-task";

const visible: Record<string, { prevalence: number; structure: string }> = {
  pleural_effusion: {
    prevalence: 0.35,
    structure: "bright fluid level filling the bottom third of the image-right lung",
  },
  nodule: { prevalence: 0.3, structure: "one bright round blob somewhere in either lung" },
  cardiomegaly: { prevalence: 0.3, structure: "heart shadow about 1.6x wider" },
  fibrosis: {
    prevalence: 0.25,
    structure: "dense bright stripe texture in the upper image-left lung",
  },
  aortic_calcification: {
    prevalence: 0.25,
    structure: "bright ring at the aortic knob, left of the top of the mediastinum",
  },
  pneumothorax: {
    prevalence: 0.2,
    structure: "black region without ribs in the upper outer image-right lung, with a pleural line",
  },
  elevated_diaphragm: {
    prevalence: 0.25,
    structure: "image-left lung ends much higher (dome raised)",
  },
  consolidation: {
    prevalence: 0.3,
    structure: "large fuzzy bright patch in the middle of the image-left lung",
  },
};

/** MedFM chest class order (19 classes), from the task definition. */
const chestClassNames = chestTask.classes;

const chestClasses: readonly SyntheticClass[] = chestClassNames.map((name) => ({
  name,
  prevalence: visible[name]?.prevalence ?? 0,
  structure: visible[name]?.structure,
}));

const index = (name: string): number => {
  const position = chestClassNames.indexOf(name);
  if (position < 0) throw new Error(`synthetic chest: ${name} is not a chest class`);
  return position;
};

/**
 * Synthetic chest X-rays: a dark background, a gray thorax, two dark lung fields with ribs,
 * a bright heart and spine, and noise. Eight of the 19 MedFM chest labels are drawn as large,
 * high-contrast structures (see `classes[i].structure`); the other eleven never occur.
 */
export const chestSynthetic: SyntheticTaskSpec = {
  name: "chest",
  classes: chestClasses,
  channels: 1,
  imagesPerGroup: 1,
  labelsPerGroup: false,
  fileName(split, index) {
    return `synthetic_chest_${split}_${String(index).padStart(4, "0")}.png`;
  },
  sampleLabels(random) {
    return Uint8Array.from(chestClasses, (entry) =>
      entry.prevalence > 0 && random.next() < entry.prevalence ? 1 : 0,
    );
  },
  draw(labels, size, random) {
    return drawChest(labels, size, random);
  },
  formatLine(name, labels) {
    return `${name} ${Array.from(labels).join(",")}`;
  },
};

function drawChest(labels: Uint8Array, size: number, random: Random): Canvas {
  const has = (name: string): boolean => labels[index(name)] === 1;
  const jitter = (amount: number): number => random.uniform(-amount, amount);
  const canvas = createCanvas(size, 1, 12 + jitter(6));
  const shiftX = jitter(0.03);
  const shiftY = jitter(0.03);
  // Thorax and lung fields.
  paintEllipse(canvas, { cx: 0.5 + shiftX, cy: 0.52 + shiftY, rx: 0.46, ry: 0.5, edge: 0.1 }, 95);
  const lungTop = 0.16 + shiftY;
  const leftLung = {
    cx: 0.3 + shiftX,
    cy: 0.5 + shiftY,
    rx: 0.15 + jitter(0.01),
    ry: 0.33 + jitter(0.01),
    edge: 0.12,
  };
  const rightLung = { ...leftLung, cx: 0.7 + shiftX, rx: 0.15 + jitter(0.01) };
  if (has("elevated_diaphragm")) {
    // The image-left lung is shorter: its dome sits much higher.
    leftLung.ry = 0.2;
    leftLung.cy = lungTop + 0.2;
  }
  paintEllipse(canvas, leftLung, 40 + jitter(5));
  paintEllipse(canvas, rightLung, 40 + jitter(5));
  const inLungs = (x: number, y: number): number =>
    Math.max(ellipseCoverage(leftLung, size, x, y), ellipseCoverage(rightLung, size, x, y));
  // Ribs: gently curved bright bands across both lungs.
  for (let rib = 0; rib < 6; rib += 1) {
    const y = lungTop + 0.06 + rib * 0.11 + jitter(0.01);
    paintLine(canvas, [0.12 + shiftX, y + 0.05], [0.5 + shiftX, y - 0.02], 0.018, 22, inLungs);
    paintLine(canvas, [0.5 + shiftX, y - 0.02], [0.88 + shiftX, y + 0.05], 0.018, 22, inLungs);
  }
  if (has("pleural_effusion")) {
    const levelY = rightLung.cy + rightLung.ry * 0.25 + jitter(0.02);
    for (let y = 0; y < size; y += 1) {
      if ((y + 0.5) / size < levelY) continue;
      for (let x = 0; x < size; x += 1) {
        const coverage = ellipseCoverage(rightLung, size, x, y);
        canvas.data[y * size + x] += 130 * coverage;
      }
    }
  }
  // Spine and mediastinum.
  paintEllipse(canvas, { cx: 0.5 + shiftX, cy: 0.45 + shiftY, rx: 0.05, ry: 0.4, edge: 0.3 }, 150);
  const heartWidth = has("cardiomegaly") ? 0.22 : 0.135;
  paintEllipse(
    canvas,
    { cx: 0.53 + shiftX, cy: 0.66 + shiftY, rx: heartWidth + jitter(0.01), ry: 0.13, edge: 0.2 },
    165 + jitter(8),
  );
  if (has("pneumothorax")) {
    const shape = { cx: rightLung.cx + 0.06, cy: lungTop + 0.14, rx: 0.1, ry: 0.14, edge: 0.1 };
    paintEllipse(canvas, shape, 4);
    paintEllipse(canvas, { ...shape, rx: shape.rx + 0.012, ry: shape.ry + 0.012, edge: 0.04 }, 0);
    paintLine(
      canvas,
      [shape.cx - shape.rx, shape.cy - shape.ry * 0.7],
      [shape.cx - shape.rx, shape.cy + shape.ry * 0.7],
      0.012,
      120,
    );
  }
  if (has("fibrosis")) {
    const region = { cx: leftLung.cx, cy: lungTop + 0.13, rx: 0.12, ry: 0.11, edge: 0.2 };
    const frequency = 9 + random.uniform(0, 2);
    const phase = random.uniform(0, Math.PI * 2);
    for (let y = 0; y < size; y += 1) {
      for (let x = 0; x < size; x += 1) {
        const coverage = ellipseCoverage(region, size, x, y);
        if (coverage === 0) continue;
        const u = ((x + y * 0.6) / size) * frequency * Math.PI * 2 + phase;
        canvas.data[y * size + x] += coverage * (Math.sin(u) > 0.2 ? 95 : 0);
      }
    }
  }
  if (has("consolidation")) {
    paintEllipse(
      canvas,
      {
        cx: leftLung.cx + jitter(0.02),
        cy: leftLung.cy + jitter(0.03),
        rx: 0.1,
        ry: 0.12,
        edge: 0.6,
      },
      110,
      "add",
    );
  }
  if (has("aortic_calcification")) {
    const knob = { cx: 0.43 + shiftX, cy: lungTop + 0.07, rx: 0.055, ry: 0.055, edge: 0.15 };
    paintEllipse(canvas, knob, 250);
    paintEllipse(canvas, { ...knob, rx: 0.028, ry: 0.028 }, 60);
  }
  if (has("nodule")) {
    const lung = random.next() < 0.5 ? leftLung : rightLung;
    const angle = random.uniform(0, Math.PI * 2);
    const radius = Math.sqrt(random.next()) * 0.55;
    paintEllipse(
      canvas,
      {
        cx: lung.cx + Math.cos(angle) * lung.rx * radius,
        cy: lung.cy + Math.sin(angle) * lung.ry * radius,
        rx: 0.06,
        ry: 0.06,
        edge: 0.3,
      },
      230,
    );
  }
  // Sensor noise.
  for (let i = 0; i < canvas.data.length; i += 1) canvas.data[i] += random.normal() * 5;
  return canvas;
}
