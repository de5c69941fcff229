export type { Batch, Sample, TaskDefinition, TaskKind } from "./types";
