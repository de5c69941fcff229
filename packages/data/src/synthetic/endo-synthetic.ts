import { createCanvas, ellipseCoverage, paintEllipse } from "./canvas";
import type { SyntheticClass, SyntheticTaskSpec } from "./synthetic-task";

const endoClasses: readonly SyntheticClass[] = [
  { name: "ulcer", prevalence: 0.25, structure: "large white-yellow fibrin patch with a red rim" },
  { name: "erosion", prevalence: 0.3, structure: "a cluster of small bright-red spots" },
  { name: "polyp", prevalence: 0.25, structure: "raised round bump, lit from the top" },
  { name: "tumor", prevalence: 0.15, structure: "large irregular dark-red mass" },
];

/**
 * Synthetic endoscopy frames (RGB): pink mucosa, a dark lumen, vessels and a specular glint,
 * with one visible structure per label (ulcer, erosion, polyp, tumor; independent). Names
 * follow MedFMC endo files (`SSSSS_2021.11_NNNN_IIIIIIII.png`, study = first 18 characters,
 * 3 frames per study); lines are `name.png l1 l2 l3 l4`.
 */
export const endoSynthetic: SyntheticTaskSpec = {
  name: "endo",
  classes: endoClasses,
  channels: 3,
  imagesPerGroup: 3,
  labelsPerGroup: false,
  fileName(split, index, group) {
    const splitCode = split === "train" ? 1 : split === "val" ? 2 : 3;
    return `${splitCode}${String(group).padStart(4, "0")}_2021.11_0001_${String(index).padStart(8, "0")}.png`;
  },
  sampleLabels(random) {
    return Uint8Array.from(endoClasses, (entry) => (random.next() < entry.prevalence ? 1 : 0));
  },
  draw(labels, size, random) {
    const canvas = createCanvas(size, 3, 0);
    const lumen = {
      cx: random.uniform(0.35, 0.65),
      cy: random.uniform(0.35, 0.65),
      rx: 0.5,
      ry: 0.5,
    };
    for (let y = 0; y < size; y += 1) {
      for (let x = 0; x < size; x += 1) {
        const dx = (x + 0.5) / size - lumen.cx;
        const dy = (y + 0.5) / size - lumen.cy;
        const light = Math.min(1, 0.25 + Math.hypot(dx, dy) * 1.6);
        const base = (y * size + x) * 3;
        canvas.data[base] = 225 * light;
        canvas.data[base + 1] = 125 * light;
        canvas.data[base + 2] = 115 * light;
      }
    }
    const place = () => ({ cx: random.uniform(0.2, 0.8), cy: random.uniform(0.2, 0.8) });
    if (labels[3] === 1) {
      const center = place();
      for (let lobe = 0; lobe < 5; lobe += 1) {
        paintEllipse(
          canvas,
          {
            cx: center.cx + random.uniform(-0.08, 0.08),
            cy: center.cy + random.uniform(-0.08, 0.08),
            rx: random.uniform(0.1, 0.15),
            ry: random.uniform(0.1, 0.15),
            edge: 0.3,
          },
          [110, 25, 35],
        );
      }
    }
    if (labels[2] === 1) {
      const center = place();
      const shape = { ...center, rx: 0.12, ry: 0.12, edge: 0.15 };
      for (let y = 0; y < size; y += 1) {
        for (let x = 0; x < size; x += 1) {
          const coverage = ellipseCoverage(shape, size, x, y);
          if (coverage === 0) continue;
          // Shading: brighter toward the top of the bump, as lit from the scope.
          const shade = 1.25 - (((y + 0.5) / size - (center.cy - shape.ry)) / (2 * shape.ry)) * 0.6;
          const base = (y * size + x) * 3;
          const target = [235 * shade, 150 * shade, 135 * shade];
          for (let channel = 0; channel < 3; channel += 1) {
            canvas.data[base + channel] +=
              (target[channel] - canvas.data[base + channel]) * coverage;
          }
        }
      }
    }
    if (labels[0] === 1) {
      const center = place();
      paintEllipse(canvas, { ...center, rx: 0.15, ry: 0.12, edge: 0.2 }, [200, 20, 30]);
      paintEllipse(canvas, { ...center, rx: 0.11, ry: 0.085, edge: 0.2 }, [250, 240, 190]);
    }
    if (labels[1] === 1) {
      const center = place();
      for (let spot = 0; spot < 7; spot += 1) {
        paintEllipse(
          canvas,
          {
            cx: center.cx + random.uniform(-0.12, 0.12),
            cy: center.cy + random.uniform(-0.12, 0.12),
            rx: 0.03,
            ry: 0.03,
            edge: 0.3,
          },
          [255, 10, 20],
        );
      }
    }
    // Specular glint of the light source.
    paintEllipse(canvas, { ...place(), rx: 0.025, ry: 0.015, edge: 0.5 }, [255, 255, 255]);
    for (let i = 0; i < canvas.data.length; i += 1) canvas.data[i] += random.normal() * 5;
    return canvas;
  },
  formatLine(name, labels) {
    return `${name} ${Array.from(labels).join(" ")}`;
  },
};
