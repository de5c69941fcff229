#!/usr/bin/env node
// `pnpm bench [filter]`: runs every packages/*/bench/*.bench.ts with tsx, one after another
// (benchmarks share two cores; running them in parallel would skew every ratio). Each prints
// its own ratios against the reference it measures in the same run.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filter = process.argv[2] ?? "";
const files = readdirSync(join(root, "packages"))
  .flatMap((pkg) => {
    const dir = join(root, "packages", pkg, "bench");
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((file) => file.endsWith(".bench.ts"))
          .map((file) => join(dir, file))
      : [];
  })
  // Matched against the path inside the repo, so a checkout folder whose name holds the filter
  // (e.g. /work/wt-vitbench for `vit`) does not select every benchmark.
  .filter((file) => file.slice(root.length).includes(filter));
if (files.length === 0) {
  console.error(`no benchmark matches "${filter}"`);
  process.exit(1);
}
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file.slice(root.length)}`);
  const result = spawnSync(
    join(root, "node_modules", ".bin", "tsx"),
    [file, ...process.argv.slice(3)],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
  if (result.status !== 0) failed += 1;
}
process.exit(failed ? 1 : 0);
