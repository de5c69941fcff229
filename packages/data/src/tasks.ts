import type { TaskDefinition, TaskKind } from "./types";

/** How a task's labels are written in a MedFMC text annotation line. */
export type MedfmcTextLayout = "comma" | "space" | "index";

/** A task as MedFM.js defines it: the shared contract plus how its MedFMC text lines look. */
export interface MedfmTask extends TaskDefinition {
  /** Label layout of the task's MedFMC text files (`comma`: chest, `space`: endo, `index`: colon). */
  textLayout: MedfmcTextLayout;
  /** How the group key is derived, in words (for reports). */
  groupDescription?: string;
}

/** Options of {@link defineTask}. */
export interface DefineTaskOptions {
  /** Short task name. */
  name: string;
  /** Class names in label-column order. */
  classes: readonly string[];
  /** Head type: independent sigmoids (`multi-label`) or one softmax (`multi-class`). */
  kind: TaskKind;
  /** Metric names, main metric first. Defaults to `["mAP", "AUC"]` or `["accuracy", "AUC"]`. */
  metrics?: readonly string[];
  /** Derives the group (patient or study) from a sample name. */
  groupKey?: (name: string) => string;
  /** How the group key is derived, in words. */
  groupDescription?: string;
  /** Label layout in MedFMC text files. Defaults to `index` (multi-class) or `comma`. */
  textLayout?: MedfmcTextLayout;
}

/** Defines a task from a class list, checking that the classes are non-empty and unique. */
export function defineTask(options: DefineTaskOptions): MedfmTask {
  const { name, classes, kind } = options;
  if (!name || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new TypeError(`defineTask: name must be a non-empty word, got ${JSON.stringify(name)}`);
  }
  if (kind !== "multi-label" && kind !== "multi-class") {
    throw new TypeError(
      `defineTask(${name}): kind must be "multi-label" or "multi-class", got ${JSON.stringify(kind)}`,
    );
  }
  if (!Array.isArray(classes) || classes.length === 0) {
    throw new TypeError(`defineTask(${name}): classes must be a non-empty list`);
  }
  if (kind === "multi-class" && classes.length < 2) {
    throw new TypeError(`defineTask(${name}): a multi-class task needs at least 2 classes`);
  }
  const seen = new Set<string>();
  for (const className of classes) {
    if (typeof className !== "string" || className.trim() === "" || /[\s,]/.test(className)) {
      throw new TypeError(
        `defineTask(${name}): class names must be non-empty without spaces or commas, got ${JSON.stringify(className)}`,
      );
    }
    if (seen.has(className)) {
      throw new TypeError(`defineTask(${name}): duplicate class name ${JSON.stringify(className)}`);
    }
    seen.add(className);
  }
  const task: MedfmTask = {
    name,
    classes: Object.freeze([...classes]),
    kind,
    metrics: Object.freeze([
      ...(options.metrics ?? (kind === "multi-label" ? ["mAP", "AUC"] : ["accuracy", "AUC"])),
    ]),
    textLayout: options.textLayout ?? (kind === "multi-class" ? "index" : "comma"),
  };
  if (task.textLayout === "index" && kind !== "multi-class") {
    throw new TypeError(`defineTask(${name}): the "index" text layout needs a multi-class task`);
  }
  if (options.groupKey) task.groupKey = options.groupKey;
  if (options.groupDescription) task.groupDescription = options.groupDescription;
  return Object.freeze(task);
}

/** ChestDR: 19 findings on chest X-rays, multi-label, `name.png 0,1,...` lines. */
export const chestTask: MedfmTask = defineTask({
  name: "chest",
  kind: "multi-label",
  classes: [
    "pleural_effusion",
    "nodule",
    "pneumonia",
    "cardiomegaly",
    "hilar_enlargement",
    "fracture_old",
    "fibrosis",
    "aortic_calcification",
    "tortuous_aorta",
    "thickened_pleura",
    "TB",
    "pneumothorax",
    "emphysema",
    "atelectasis",
    "calcification",
    "pulmonary_edema",
    "increased_lung_markings",
    "elevated_diaphragm",
    "consolidation",
  ],
  metrics: ["mAP", "AUC"],
  textLayout: "comma",
});

/** Patient id of a ColonPath tile: the file name minus its last 9 characters (`p0026.png`). */
export function colonPatientId(name: string): string {
  return name.length > 9 ? name.slice(0, -9) : name;
}

/** Study id of an Endo frame: the first 18 characters of the file name (`13333_2021.11_0002`). */
export function endoStudyId(name: string): string {
  return name.slice(0, 18);
}

/** ColonPath: tumor tissue on pathology tiles, multi-class (negative, positive), grouped by patient. */
export const colonTask: MedfmTask = defineTask({
  name: "colon",
  kind: "multi-class",
  classes: ["negative", "positive"],
  metrics: ["accuracy", "AUC"],
  groupKey: colonPatientId,
  groupDescription: "patient id: file name minus its last 9 characters",
  textLayout: "index",
});

/** Endo: 4 lesions on endoscopy frames, multi-label, `name.png 0 1 0 0` lines, grouped by study. */
export const endoTask: MedfmTask = defineTask({
  name: "endo",
  kind: "multi-label",
  classes: ["ulcer", "erosion", "polyp", "tumor"],
  metrics: ["mAP", "AUC"],
  groupKey: endoStudyId,
  groupDescription: "study id: first 18 characters of the file name",
  textLayout: "space",
});

/** The built-in MedFM tasks by name. */
export const medfmTasks: Readonly<Record<"chest" | "colon" | "endo", MedfmTask>> = Object.freeze({
  chest: chestTask,
  colon: colonTask,
  endo: endoTask,
});

/** Looks up a built-in task by name; throws naming the known tasks otherwise. */
export function getTask(name: string): MedfmTask {
  const task = (medfmTasks as Record<string, MedfmTask>)[name];
  if (!task) {
    throw new RangeError(
      `Unknown task ${JSON.stringify(name)}: expected one of ${Object.keys(medfmTasks).join(", ")}`,
    );
  }
  return task;
}

/** The MedFMC text layout of any task: its own, or `index` for multi-class and `comma` otherwise. */
export function textLayoutOf(task: TaskDefinition): MedfmcTextLayout {
  const layout = (task as Partial<MedfmTask>).textLayout;
  if (layout) return layout;
  return task.kind === "multi-class" ? "index" : "comma";
}
