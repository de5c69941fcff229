// Backends and kernels (src/backend/).

// Backbones, heads and the classifier (src/backbones/, src/heads/, src/classifier.ts).

// Weights (src/weights/).

// Training (src/train/).
export {};
