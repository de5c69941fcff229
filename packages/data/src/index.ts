export {
  AnnotationError,
  type AnnotationIssue,
  type AnnotationIssueCode,
  formatAnnotationIssue,
} from "./annotations/annotation-error";
export {
  type AnnotationFormat,
  type AnnotationFormatOption,
  type AnnotationSet,
  annotationFormats,
  type DuplicateName,
  type ParseAnnotationsOptions,
} from "./annotations/annotation-set";
export { detectAnnotationFormat } from "./annotations/detect-format";
export {
  type FormatAnnotationsOptions,
  formatAnnotations,
  resolveOutputFormat,
} from "./annotations/format-annotations";
export { type MedfmcTextFormat, medfmcFormatOf } from "./annotations/medfmc-text";
export { parseAnnotations } from "./annotations/parse-annotations";
export {
  findMissingImages,
  type ReadAnnotationFileOptions,
  readAnnotationFile,
  writeAnnotationFile,
} from "./annotations/read-annotation-file";
export { unsafePathReason } from "./annotations/safe-path";
export {
  type CheckLeakageOptions,
  checkLeakage,
  type DuplicateFinding,
  formatLeakageReport,
  type GroupOverlapFinding,
  type LeakageReport,
  type NamedSampleList,
  type OverlapFinding,
} from "./leakage";
export { createRandom, hashSeed, type Random } from "./random";
export {
  chestTask,
  colonPatientId,
  colonTask,
  type DefineTaskOptions,
  defineTask,
  endoStudyId,
  endoTask,
  getTask,
  type MedfmcTextLayout,
  type MedfmTask,
  medfmTasks,
  textLayoutOf,
} from "./tasks";
export type { Batch, Sample, TaskDefinition, TaskKind } from "./types";
