import { describe, expect, it } from "vitest";
import { createRandom } from "../random";
import { sampleAugmentation } from "./augmentation";

describe("sampleAugmentation", () => {
  it("flips half the time and keeps every factor in its range", () => {
    const random = createRandom(5);
    let flips = 0;
    for (let i = 0; i < 4000; i += 1) {
      const plan = sampleAugmentation(512, 512, random, {
        rotation: 10,
        brightness: 0.2,
        contrast: 0.3,
      });
      if (plan.flip) flips += 1;
      expect(plan.crop).toBeDefined();
      expect(Math.abs(plan.rotation)).toBeLessThanOrEqual(10);
      expect(plan.brightness).toBeGreaterThanOrEqual(0.8);
      expect(plan.brightness).toBeLessThanOrEqual(1.2);
      expect(plan.contrast).toBeGreaterThanOrEqual(0.7);
      expect(plan.contrast).toBeLessThanOrEqual(1.3);
    }
    expect(flips / 4000).toBeGreaterThan(0.46);
    expect(flips / 4000).toBeLessThan(0.54);
  });

  it("turns parts off and repeats for the same generator seed", () => {
    const plan = sampleAugmentation(64, 64, createRandom(1), {
      randomResizedCrop: false,
      horizontalFlip: 0,
    });
    expect(plan).toEqual({ crop: undefined, flip: false, rotation: 0, brightness: 1, contrast: 1 });
    expect(sampleAugmentation(640, 480, createRandom(8))).toEqual(
      sampleAugmentation(640, 480, createRandom(8)),
    );
  });
});
