// Images per second for decode + RandomResizedCrop 224 (bicubic) + horizontal flip + ImageNet
// normalize (3 channels) on real 1024² chest X-ray PNGs, against a torchvision Dataset +
// DataLoader with 2 workers doing the same, measured in the same run, alternating rounds. Our
// loader runs once on its calling thread and once with 2 worker threads (the headline ratio).
// Run: pnpm bench pipeline   (needs ../shared/samples/chest and /usr/bin/python3 with torch and
// torchvision; PYTHON overrides the interpreter, BENCH_IMAGES the images per round).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { normalizeInto } from "../src/images/normalize";
import { pilResize } from "../src/images/pil-resize";
import {
  decodePngRegion,
  inflatePngRows,
  type PngLayout,
  planPng,
  unfilterPngRegion,
} from "../src/images/png-fast-path";
import { randomResizedCropBox } from "../src/images/random-resized-crop";
import { createLoader } from "../src/loader";
import { createRandom } from "../src/random";
import type { Sample } from "../src/types";

const root = new URL("../../..", import.meta.url).pathname;
const chestImages = join(root, "..", "shared", "samples", "chest", "images");
if (!existsSync(chestImages)) {
  console.log(
    `skipped: ${chestImages} is absent (the benchmark needs the real 1024² chest X-rays)`,
  );
  process.exit(0);
}
const python = process.env.PYTHON ?? "/usr/bin/python3";
const imagesPerRound = Number(process.env.BENCH_IMAGES ?? 240);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const batchSize = 16;
const files = readdirSync(chestImages)
  .filter((file) => file.endsWith(".png"))
  .sort();
// The 30 files repeated to one epoch of about BENCH_IMAGES images, on both sides: throughput in a
// steady state, not the start and drain of eight 30-image epochs (torchvision's non-persistent
// workers would also restart every 30 images).
const repeats = Math.max(1, Math.round(imagesPerRound / files.length));
const epochFiles = Array.from({ length: repeats }, () => files).flat();
const samples: Sample[] = epochFiles.map((name) => ({ name, labels: new Uint8Array(14) }));
const epochs = 1;
const measured = epochFiles.length;

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Throughput of one round: wall-clock images/s and images per CPU-second (all threads). */
interface Round {
  wall: number;
  cpu: number;
}

/** Share of each round's wall-clock time the main thread spent running JavaScript and wasm. */
const mainThreadBusy: number[] = [];

async function medfmRound(options: {
  concurrency?: number;
  cacheDir?: string;
  workers?: number;
}): Promise<Round> {
  const loader = createLoader({
    samples,
    dataRoot: chestImages,
    imageSize: 224,
    batchSize,
    shuffle: true,
    seed: 0,
    augment: { randomResizedCrop: true, horizontalFlip: 0.5 },
    concurrency: options.concurrency,
    workers: options.workers,
    prefetch: 4,
    cache: options.cacheDir ? { dir: options.cacheDir, shortSide: 448 } : undefined,
  });
  let checksum = 0;
  for await (const batch of loader.epoch(0)) checksum += batch.images[0]; // warm-up epoch
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const loopStart = performance.eventLoopUtilization();
  let images = 0;
  for (let epoch = 1; epoch <= epochs; epoch += 1) {
    for await (const batch of loader.epoch(epoch)) {
      images += batch.shape[0];
      checksum += batch.images[batch.images.length - 1];
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  if (!options.workers && !options.cacheDir) {
    mainThreadBusy.push(performance.eventLoopUtilization(loopStart).utilization);
  }
  await loader.close();
  if (images !== measured || Number.isNaN(checksum)) throw new Error("medfm loader lost images");
  return { wall: images / seconds, cpu: images / ((cpu.user + cpu.system) / 1e6) };
}

/**
 * CPU milliseconds per image of each step of the fast path, one image at a time (thread-pool
 * time included, since each step is awaited alone), on the same RandomResizedCrop boxes; and the
 * previous path, sharp decoding the whole PNG and cropping and resizing in one pipeline.
 */
async function breakdown(): Promise<void> {
  const paths = files.map((file) => join(chestImages, file));
  const random = createRandom(3);
  const bytes = await Promise.all(paths.map((path) => readFile(path)));
  const boxes = paths.map(() => randomResizedCropBox(1024, 1024, random));
  const target = new Float32Array(224 * 224 * 3);
  const regions = await Promise.all(
    bytes.map(async (data, index) => {
      const layout = planPng(data);
      if ("declined" in layout) throw new Error(`${paths[index]}: ${layout.declined}`);
      const region = await decodePngRegion(layout, boxes[index]);
      if ("declined" in region) throw new Error(`${paths[index]}: ${region.declined}`);
      return region;
    }),
  );
  const resized = await Promise.all(
    regions.map((region) =>
      sharp(region.data, { raw: { width: region.width, height: region.height, channels: 1 } })
        .resize(224, 224, { fit: "fill", kernel: "cubic" })
        .toColourspace("b-w")
        .raw()
        .toBuffer(),
    ),
  );
  const step = async (label: string, run: (index: number) => unknown): Promise<void> => {
    for (let index = 0; index < paths.length; index += 1) await run(index); // warm-up
    const repeats = 3;
    const start = process.cpuUsage();
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      for (let index = 0; index < paths.length; index += 1) await run(index);
    }
    const used = process.cpuUsage(start);
    const perImage = (used.user + used.system) / 1000 / (repeats * paths.length);
    console.log(`  ${label.padEnd(62)} ${perImage.toFixed(2).padStart(6)} ms CPU per image`);
  };
  console.log("where the CPU goes, one image at a time (RandomResizedCrop boxes of seed 3):");
  await step("read the file", (index) => readFile(paths[index]));
  await step("check chunks and CRCs (planPng)", (index) => planPng(bytes[index]));
  const layouts = bytes.map((data) => planPng(data) as PngLayout);
  const inflated = await Promise.all(
    layouts.map((layout, index) => inflatePngRows(layout, boxes[index].top + boxes[index].height)),
  );
  await step("inflate (node:zlib) the rows down to the crop's bottom", (index) =>
    inflatePngRows(layouts[index], boxes[index].top + boxes[index].height),
  );
  await step("unfilter them up to the crop's right edge, copy the crop out", (index) =>
    unfilterPngRegion(inflated[index] as Uint8Array, layouts[index], boxes[index]),
  );
  await step("(was) sharp: resize the raw crop to 224 (bicubic)", (index) =>
    sharp(regions[index].data, {
      raw: { width: regions[index].width, height: regions[index].height, channels: 1 },
    })
      .resize(224, 224, { fit: "fill", kernel: "cubic" })
      .toColourspace("b-w")
      .raw()
      .toBuffer(),
  );
  await step("pilResize: Pillow's bicubic of the raw crop to 224 (WebAssembly)", (index) =>
    pilResize({ ...regions[index], data: regions[index].data as Uint8Array }, 224, 224),
  );
  await step("flip + normalize to 3 channels (Float32)", (index) =>
    normalizeInto(
      target,
      0,
      { data: resized[index], width: 224, height: 224, channels: 1, maxValue: 255 },
      { flip: true },
    ),
  );
  await step("before: sharp decodes the whole PNG, crops and resizes", (index) =>
    sharp(bytes[index])
      .extract(boxes[index])
      .resize(224, 224, { fit: "fill", kernel: "cubic" })
      .toColourspace("b-w")
      .raw()
      .toBuffer(),
  );
}

// CPU time of the DataLoader workers is read from RUSAGE_CHILDREN, which counts only children
// that have exited: workers are not persistent, so each epoch's workers exit before the reading.
const reference = `
import resource, sys, time, torch
from PIL import Image
import torchvision.transforms as T
from torch.utils.data import Dataset, DataLoader
files, epochs, batch = sys.argv[1].split("\\n"), int(sys.argv[2]), int(sys.argv[3])
transform = T.Compose([
    T.RandomResizedCrop(224, interpolation=T.InterpolationMode.BICUBIC),
    T.RandomHorizontalFlip(),
    T.ToTensor(),
    T.Normalize([123.675 / 255, 116.28 / 255, 103.53 / 255], [58.395 / 255, 57.12 / 255, 57.375 / 255]),
])
class Chest(Dataset):
    def __len__(self): return len(files)
    def __getitem__(self, i):
        return transform(Image.open(files[i]).convert("RGB")), torch.zeros(14)
loader = DataLoader(Chest(), batch_size=batch, shuffle=True, num_workers=2)
def cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
for images, labels in loader: pass  # warm-up epoch
start, cpu_start, count = time.perf_counter(), cpu(), 0
for _ in range(epochs):
    for images, labels in loader: count += images.shape[0]
wall = time.perf_counter() - start
print(count / wall, count / (cpu() - cpu_start))
`;

function torchvisionRound(directory: string): Round | undefined {
  const script = join(directory, "torchvision_pipeline.py");
  writeFileSync(script, reference);
  const result = spawnSync(
    python,
    [
      script,
      epochFiles.map((file) => join(chestImages, file)).join("\n"),
      String(epochs),
      String(batchSize),
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) {
    console.log(
      `torchvision reference failed (${python}): ${result.stderr.trim().split("\n").pop()}`,
    );
    return undefined;
  }
  const [wall, cpu] = result.stdout.trim().split("\n").pop()!.split(" ").map(Number);
  return { wall, cpu };
}

const directory = mkdtempSync(join(tmpdir(), "medfm-pipeline-bench-"));
try {
  console.log(
    `${files.length} NIH chest X-rays (1024² 8-bit PNG), ${measured} images per round, ${rounds} rounds, ` +
      `${cpus().length} CPUs, batch ${batchSize}; RandomResizedCrop 224 bicubic + flip + normalize, 3 channels`,
  );
  await breakdown();
  const medfm: Round[] = [];
  const medfmInThread: Round[] = [];
  const torchvision: Round[] = [];
  for (let round = 0; round < rounds; round += 1) {
    medfmInThread.push(await medfmRound({ concurrency: 4 }));
    medfm.push(await medfmRound({ workers: 2 }));
    const torch = torchvisionRound(directory);
    if (torch !== undefined) torchvision.push(torch);
  }
  const cacheDir = join(directory, "cache");
  await medfmRound({ concurrency: 4, cacheDir }); // fills the cache
  const cachedRounds = [];
  for (let round = 0; round < rounds; round += 1) {
    cachedRounds.push(await medfmRound({ concurrency: 4, cacheDir }));
  }
  const summary = (label: string, results: Round[]): Round => {
    const wall = median(results.map((result) => result.wall));
    const cpu = median(results.map((result) => result.cpu));
    const each = results.map((result) => result.wall.toFixed(0)).join(", ");
    console.log(
      `${label.padEnd(44)} ${wall.toFixed(1).padStart(6)} images/s [${each}]  ${cpu.toFixed(1).padStart(6)} images per CPU-second`,
    );
    return { wall, cpu };
  };
  const inThread = summary("medfm createLoader, one thread (concurrency 4)", medfmInThread);
  console.log(
    `  main thread busy ${(100 * median(mainThreadBusy)).toFixed(0)}% of the wall-clock time ` +
      `(event loop utilization); ${(inThread.wall / inThread.cpu).toFixed(2)} CPUs used on average`,
  );
  const ours = summary("medfm createLoader, 2 worker threads (concurrency 16)", medfm);
  const cached = summary("medfm createLoader, warm on-disk cache (448)", cachedRounds);
  if (torchvision.length > 0) {
    const theirs = summary("torchvision DataLoader (PIL, 2 workers)", torchvision);
    console.log(
      `ratio medfm (workers: 2) / torchvision: ${(ours.wall / theirs.wall).toFixed(2)}x wall-clock, ` +
        `${(ours.cpu / theirs.cpu).toFixed(2)}x per CPU-second (goal >= 3x)`,
    );
    console.log(
      `ratio medfm (one thread) / torchvision: ${(inThread.wall / theirs.wall).toFixed(2)}x wall-clock, ` +
        `${(inThread.cpu / theirs.cpu).toFixed(2)}x per CPU-second`,
    );
    console.log(
      `with the warm cache: ${(cached.wall / theirs.wall).toFixed(2)}x wall-clock against torchvision without one`,
    );
    const load = loadavg()[0];
    console.log(
      `load average ${load.toFixed(1)} on ${cpus().length} CPUs: under contention wall-clock favours ` +
        "the side with more threads; the per-CPU-second ratio is the steadier figure",
    );
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}
