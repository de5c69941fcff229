import { cosinePrototypeHead } from "./cosine-prototype-head";
import type { Head, HeadMetadata } from "./head";
import { linearHead } from "./linear-head";
import { mlpHead } from "./mlp-head";

function option(metadata: HeadMetadata, name: string): number | boolean | undefined {
  return metadata.options[name];
}

function numberOption(metadata: HeadMetadata, name: string): number | undefined {
  const value = option(metadata, name);
  if (value !== undefined && typeof value !== "number") {
    throw new RangeError(
      `head metadata: option ${name} must be a number, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function booleanOption(metadata: HeadMetadata, name: string): boolean | undefined {
  const value = option(metadata, name);
  if (value !== undefined && typeof value !== "boolean") {
    throw new RangeError(
      `head metadata: option ${name} must be a boolean, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Rebuilds an unbuilt head of the recorded type, task, classes and options. */
export function headFromMetadata(metadata: HeadMetadata): Head {
  const common = {
    numClasses: metadata.numClasses,
    kind: metadata.task,
    classes: metadata.classes,
    seed: numberOption(metadata, "seed"),
  };
  switch (metadata.type) {
    case "linear":
      return linearHead({
        ...common,
        dropout: numberOption(metadata, "dropout"),
        normalizeFeatures: booleanOption(metadata, "normalizeFeatures"),
      });
    case "mlp": {
      const hiddenFeatures = numberOption(metadata, "hiddenFeatures");
      if (hiddenFeatures === undefined)
        throw new RangeError("head metadata: mlp head without hiddenFeatures");
      return mlpHead({ ...common, hiddenFeatures, dropout: numberOption(metadata, "dropout") });
    }
    case "cosine-prototype":
      return cosinePrototypeHead({
        ...common,
        scale: numberOption(metadata, "scale"),
        learnScale: booleanOption(metadata, "learnScale"),
        learnPrototypes: booleanOption(metadata, "learnPrototypes"),
      });
    default:
      throw new RangeError(
        `head metadata: unknown head type ${JSON.stringify((metadata as { type: unknown }).type)}`,
      );
  }
}
