import { checkFeatureMatrix, type FeatureMatrix, l2NormalizeRows } from "./feature-matrix";

/** Options of {@link fitLogisticRegression}. */
export interface LogisticRegressionOptions {
  /** Inverse L2 regularisation strength, as scikit-learn's `C` (default 1). */
  c?: number;
  /** L2-normalise every feature row before fitting and predicting (default true, MedFM's Baseline). */
  normalize?: boolean;
  /** Learn an unregularised intercept per class (default true). */
  fitIntercept?: boolean;
  /** L-BFGS iterations per class at most (default 500). */
  maxIterations?: number;
  /** Stop when every gradient entry of the (per-sample) objective is below this (default 1e-8). */
  tolerance?: number;
  /** Class names, used in error messages. */
  classes?: readonly string[];
}

/** How the fit of one class went. */
export interface LogisticRegressionClassReport {
  /** L-BFGS iterations taken. */
  iterations: number;
  /** Whether the gradient tolerance was reached within `maxIterations`. */
  converged: boolean;
  /** Final value of the per-sample objective (mean log-loss plus the L2 term). */
  objective: number;
}

/** One binary logistic regression per class on (optionally L2-normalised) features. */
export interface LogisticRegressionModel {
  /** Features per sample. */
  readonly numFeatures: number;
  /** Number of classes (one binary regression each). */
  readonly numClasses: number;
  /** `[numFeatures, numClasses]` row-major (the layout of a linear head's `classifier.weight`). */
  readonly weights: Float64Array;
  /** One intercept per class. */
  readonly bias: Float64Array;
  /** Whether rows are L2-normalised before the linear map. */
  readonly normalize: boolean;
  /** Per-class fitting report. */
  readonly report: readonly LogisticRegressionClassReport[];
  /** Logits `rows × numClasses`, row-major. */
  logits(features: FeatureMatrix): Float32Array;
  /** Sigmoid probabilities `rows × numClasses`, row-major (one-vs-rest for multi-class tasks). */
  probabilities(features: FeatureMatrix): Float32Array;
}

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

interface BinaryProblem {
  x: Float64Array;
  rows: number;
  columns: number;
  y: Float64Array;
  /** 1 / (C · n): the L2 weight of the per-sample objective. */
  lambda: number;
  fitIntercept: boolean;
}

/** Objective and gradient at `theta` = [w (columns), b]; writes the gradient into `gradient`. */
function evaluate(problem: BinaryProblem, theta: Float64Array, gradient: Float64Array): number {
  const { x, rows, columns, y, lambda, fitIntercept } = problem;
  const bias = fitIntercept ? theta[columns] : 0;
  gradient.fill(0);
  let loss = 0;
  for (let row = 0; row < rows; row += 1) {
    const start = row * columns;
    let z = bias;
    for (let column = 0; column < columns; column += 1) z += x[start + column] * theta[column];
    loss += softplus(z) - y[row] * z;
    const residual = sigmoid(z) - y[row];
    for (let column = 0; column < columns; column += 1) {
      gradient[column] += residual * x[start + column];
    }
    if (fitIntercept) gradient[columns] += residual;
  }
  let penalty = 0;
  for (let column = 0; column < columns; column += 1) {
    penalty += theta[column] * theta[column];
    gradient[column] = gradient[column] / rows + lambda * theta[column];
  }
  if (fitIntercept) gradient[columns] /= rows;
  return loss / rows + 0.5 * lambda * penalty;
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += a[i] * b[i];
  return sum;
}

function maxAbs(a: Float64Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i]));
  return max;
}

/** L-BFGS (10 pairs) with a backtracking Armijo line search; the problem is strictly convex. */
function minimise(
  problem: BinaryProblem,
  maxIterations: number,
  tolerance: number,
): { theta: Float64Array; report: LogisticRegressionClassReport } {
  const size = problem.columns + (problem.fitIntercept ? 1 : 0);
  const memory = 10;
  let theta = new Float64Array(size);
  let gradient = new Float64Array(size);
  let value = evaluate(problem, theta, gradient);
  const steps: Float64Array[] = [];
  const changes: Float64Array[] = [];
  const rhos: number[] = [];
  const direction = new Float64Array(size);
  const alphas = new Array<number>(memory).fill(0);
  let nextTheta = new Float64Array(size);
  let nextGradient = new Float64Array(size);
  let iterations = 0;
  let converged = maxAbs(gradient) <= tolerance;
  while (!converged && iterations < maxIterations) {
    // Two-loop recursion: direction = −H·g.
    direction.set(gradient);
    for (let k = steps.length - 1; k >= 0; k -= 1) {
      alphas[k] = rhos[k] * dot(steps[k], direction);
      for (let i = 0; i < size; i += 1) direction[i] -= alphas[k] * changes[k][i];
    }
    const last = steps.length - 1;
    const gamma =
      last >= 0 ? dot(steps[last], changes[last]) / dot(changes[last], changes[last]) : 1;
    for (let i = 0; i < size; i += 1) direction[i] *= gamma;
    for (let k = 0; k < steps.length; k += 1) {
      const beta = rhos[k] * dot(changes[k], direction);
      for (let i = 0; i < size; i += 1) direction[i] += steps[k][i] * (alphas[k] - beta);
    }
    for (let i = 0; i < size; i += 1) direction[i] = -direction[i];
    let slope = dot(direction, gradient);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      steps.length = 0;
      changes.length = 0;
      rhos.length = 0;
      for (let i = 0; i < size; i += 1) direction[i] = -gradient[i];
      slope = dot(direction, gradient);
    }
    let step = steps.length === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let nextValue = Number.POSITIVE_INFINITY;
    for (let tries = 0; tries < 60; tries += 1) {
      for (let i = 0; i < size; i += 1) nextTheta[i] = theta[i] + step * direction[i];
      nextValue = evaluate(problem, nextTheta, nextGradient);
      if (nextValue <= value + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    iterations += 1;
    if (!(nextValue <= value)) break; // no decrease possible at machine precision
    const s = new Float64Array(size);
    const change = new Float64Array(size);
    for (let i = 0; i < size; i += 1) {
      s[i] = nextTheta[i] - theta[i];
      change[i] = nextGradient[i] - gradient[i];
    }
    const curvature = dot(s, change);
    if (curvature > 1e-20) {
      if (steps.length === memory) {
        steps.shift();
        changes.shift();
        rhos.shift();
      }
      steps.push(s);
      changes.push(change);
      rhos.push(1 / curvature);
    }
    [theta, nextTheta] = [nextTheta, theta];
    [gradient, nextGradient] = [nextGradient, gradient];
    const previous = value;
    value = nextValue;
    converged = maxAbs(gradient) <= tolerance;
    if (!converged && previous - value <= 1e-16 * Math.max(1, Math.abs(value))) break;
  }
  return { theta, report: { iterations, converged, objective: value } };
}

/**
 * Fits one L2-regularised binary logistic regression per class (scikit-learn's
 * `LogisticRegression(C=c)` objective: `½‖w‖² + C·Σ log-loss`, intercept unregularised) with
 * L-BFGS, deterministically. `labels` is `rows × classes`, 0/1 (multi-hot or one-hot).
 * With `normalize` (the default) rows are L2-normalised first: MedFM's "Baseline".
 * Throws naming a class that has no positive or no negative example.
 */
export function fitLogisticRegression(
  features: FeatureMatrix,
  labels: ArrayLike<number>,
  options: LogisticRegressionOptions = {},
): LogisticRegressionModel {
  checkFeatureMatrix(features, "fitLogisticRegression features");
  const c = options.c ?? 1;
  if (!(c > 0) || !Number.isFinite(c)) {
    throw new RangeError(`fitLogisticRegression: c must be a positive number, got ${options.c}`);
  }
  const { rows, columns } = features;
  if (rows === 0) throw new RangeError("fitLogisticRegression: no samples");
  if (labels.length % rows !== 0 || labels.length === 0) {
    throw new RangeError(
      `fitLogisticRegression: ${labels.length} label values for ${rows} samples (expected rows × classes)`,
    );
  }
  const numClasses = labels.length / rows;
  const normalize = options.normalize ?? true;
  const fitIntercept = options.fitIntercept ?? true;
  const maxIterations = options.maxIterations ?? 500;
  const tolerance = options.tolerance ?? 1e-8;
  const input = normalize ? l2NormalizeRows(features) : features;
  const x = Float64Array.from(input.data);
  const weights = new Float64Array(columns * numClasses);
  const bias = new Float64Array(numClasses);
  const report: LogisticRegressionClassReport[] = [];
  for (let classIndex = 0; classIndex < numClasses; classIndex += 1) {
    const y = new Float64Array(rows);
    let positives = 0;
    for (let row = 0; row < rows; row += 1) {
      const value = labels[row * numClasses + classIndex];
      if (value !== 0 && value !== 1) {
        throw new RangeError(
          `fitLogisticRegression: label of sample ${row}, class ${classIndex} is ${value}, expected 0 or 1`,
        );
      }
      y[row] = value;
      positives += value;
    }
    if (positives === 0 || positives === rows) {
      const name = options.classes?.[classIndex] ?? `class ${classIndex}`;
      throw new RangeError(
        `fitLogisticRegression: ${name} has ${positives === 0 ? "no positive" : "no negative"} example among ${rows} samples`,
      );
    }
    const { theta, report: classReport } = minimise(
      { x, rows, columns, y, lambda: 1 / (c * rows), fitIntercept },
      maxIterations,
      tolerance,
    );
    for (let column = 0; column < columns; column += 1) {
      weights[column * numClasses + classIndex] = theta[column];
    }
    bias[classIndex] = fitIntercept ? theta[columns] : 0;
    report.push(classReport);
  }
  return createModel(weights, bias, columns, numClasses, normalize, report);
}

function createModel(
  weights: Float64Array,
  bias: Float64Array,
  numFeatures: number,
  numClasses: number,
  normalize: boolean,
  report: LogisticRegressionClassReport[],
): LogisticRegressionModel {
  const logits = (features: FeatureMatrix): Float32Array => {
    checkFeatureMatrix(features, "LogisticRegressionModel.logits");
    if (features.columns !== numFeatures) {
      throw new RangeError(
        `LogisticRegressionModel.logits: fitted on ${numFeatures} features, got ${features.columns}`,
      );
    }
    const input = normalize ? l2NormalizeRows(features) : features;
    const out = new Float32Array(features.rows * numClasses);
    for (let row = 0; row < features.rows; row += 1) {
      for (let classIndex = 0; classIndex < numClasses; classIndex += 1) {
        let z = bias[classIndex];
        for (let column = 0; column < numFeatures; column += 1) {
          z += input.data[row * numFeatures + column] * weights[column * numClasses + classIndex];
        }
        out[row * numClasses + classIndex] = z;
      }
    }
    return out;
  };
  return {
    numFeatures,
    numClasses,
    weights,
    bias,
    normalize,
    report,
    logits,
    probabilities: (features) => logits(features).map(sigmoid),
  };
}
