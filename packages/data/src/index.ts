export { createRandom, hashSeed, type Random } from "./random";
export type { Batch, Sample, TaskDefinition, TaskKind } from "./types";
