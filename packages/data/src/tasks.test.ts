import { describe, expect, it } from "vitest";
import { chestTask, colonTask, defineTask, endoTask, getTask, textLayoutOf } from "./tasks";

describe("tasks", () => {
  it("defines the three MedFM tasks with their class order and head type", () => {
    expect(chestTask.classes).toHaveLength(19);
    expect(chestTask.classes[0]).toBe("pleural_effusion");
    expect(chestTask.classes[10]).toBe("TB");
    expect(chestTask.classes[18]).toBe("consolidation");
    expect(chestTask.kind).toBe("multi-label");
    expect(colonTask.classes).toEqual(["negative", "positive"]);
    expect(colonTask.kind).toBe("multi-class");
    expect(endoTask.classes).toEqual(["ulcer", "erosion", "polyp", "tumor"]);
    expect(endoTask.metrics[0]).toBe("mAP");
    expect(getTask("colon")).toBe(colonTask);
  });

  it("derives colon patients and endo studies from file names", () => {
    expect(
      colonTask.groupKey?.(
        "2019-10327-1-1-1_2019-05-28 17_55_39-lv1-47692-11609-5464-5695p0026.png",
      ),
    ).toBe("2019-10327-1-1-1_2019-05-28 17_55_39-lv1-47692-11609-5464-5695");
    expect(endoTask.groupKey?.("13333_2021.11_0002_54971718.png")).toBe("13333_2021.11_0002");
    expect(chestTask.groupKey).toBeUndefined();
  });

  it("builds custom tasks from a class list and refuses bad ones", () => {
    const task = defineTask({
      name: "skin",
      classes: ["benign", "malignant"],
      kind: "multi-class",
    });
    expect(task.metrics).toEqual(["accuracy", "AUC"]);
    expect(textLayoutOf(task)).toBe("index");
    expect(textLayoutOf({ name: "x", classes: ["a"], kind: "multi-label", metrics: [] })).toBe(
      "comma",
    );
    expect(() => defineTask({ name: "dup", classes: ["a", "a"], kind: "multi-label" })).toThrow(
      /duplicate class name "a"/,
    );
    expect(() => defineTask({ name: "one", classes: ["a"], kind: "multi-class" })).toThrow(
      /at least 2/,
    );
    expect(() => defineTask({ name: "sp", classes: ["a b"], kind: "multi-label" })).toThrow(
      /"a b"/,
    );
    expect(() => getTask("skin")).toThrow(
      /Unknown task "skin": expected one of chest, colon, endo/,
    );
  });
});
