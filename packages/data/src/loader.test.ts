import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage } from "./images/decode-image";
import { ImageError } from "./images/image-error";
import { IMAGENET_MEAN, IMAGENET_STD } from "./images/normalize";
import { readPixels } from "./images/read-pixels";
import { createLoader } from "./loader";
import {
  generateSyntheticDataset,
  type SyntheticDataset,
} from "./synthetic/generate-synthetic-dataset";
import type { Batch, Sample } from "./types";

const chestImages = join(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "..",
  "shared",
  "samples",
  "chest",
  "images",
);
if (!existsSync(chestImages)) {
  console.log(`skipped the real chest X-ray loader test: ${chestImages} is absent`);
}

let directory: string;
let dataset: SyntheticDataset;
let samples: Sample[];

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "medfm-loader-"));
  dataset = await generateSyntheticDataset({
    outputDir: directory,
    trainCount: 23,
    valCount: 2,
    imageSize: 40,
    seed: 2,
  });
  samples = (await readFile(dataset.trainAnnotation, "utf8"))
    .trim()
    .split("\n")
    .map((line, index) => {
      const [name, labels] = line.split(" ");
      return { name, labels: Uint8Array.from(labels.split(",").map(Number)), line: index + 1 };
    });
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function collect(iterable: AsyncIterable<Batch>): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

describe("createLoader", () => {
  it("yields normalized NHWC batches with float labels in annotation order", async () => {
    const loader = createLoader({
      samples,
      dataRoot: dataset.dataRoot,
      imageSize: 32,
      batchSize: 5,
    });
    expect(loader.size).toBe(23);
    expect(loader.length).toBe(5);
    expect(loader.numClasses).toBe(19);
    const batches = await collect(loader.epoch(0));
    expect(batches.map((batch) => batch.shape)).toEqual([
      [5, 32, 32, 3],
      [5, 32, 32, 3],
      [5, 32, 32, 3],
      [5, 32, 32, 3],
      [3, 32, 32, 3],
    ]);
    expect(batches.flatMap((batch) => batch.names)).toEqual(samples.map((sample) => sample.name));
    const second = batches[1];
    expect(Array.from(second.labels.subarray(19, 38))).toEqual(Array.from(samples[6].labels));
    // Row 1 of batch 1 is sample 6: it equals decodeImage's exact resize, normalized by hand.
    const decoded = await decodeImage(join(dataset.dataRoot, samples[6].name), {
      resize: { width: 32, height: 32 },
    });
    const row = second.images.subarray(32 * 32 * 3, 2 * 32 * 32 * 3);
    for (let i = 0; i < row.length; i += 97) {
      const channel = i % 3;
      const expected = (decoded.data[i] - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel];
      expect(row[i]).toBeCloseTo(expected, 5);
    }
  });

  it("drops the short last batch when asked", async () => {
    const loader = createLoader({
      samples,
      dataRoot: dataset.dataRoot,
      imageSize: 16,
      batchSize: 5,
      dropLast: true,
    });
    expect(loader.length).toBe(4);
    expect((await collect(loader.epoch(0))).map((batch) => batch.names.length)).toEqual([
      5, 5, 5, 5,
    ]);
  });

  it("shuffles deterministically per seed and epoch, each sample once", async () => {
    const make = (seed: number) =>
      createLoader({
        samples,
        dataRoot: dataset.dataRoot,
        imageSize: 8,
        batchSize: 4,
        shuffle: true,
        seed,
      });
    const names = async (seed: number, epoch: number) =>
      (await collect(make(seed).epoch(epoch))).flatMap((batch) => batch.names);
    const epoch0 = await names(1, 0);
    expect(await names(1, 0)).toEqual(epoch0);
    expect(await names(1, 1)).not.toEqual(epoch0);
    expect(await names(2, 0)).not.toEqual(epoch0);
    expect([...epoch0].sort()).toEqual(samples.map((sample) => sample.name).sort());
  });

  it("augments the same way for the same (seed, epoch, sample) whatever the concurrency", async () => {
    const make = (concurrency: number, seed = 4) =>
      createLoader({
        samples: samples.slice(0, 6),
        dataRoot: dataset.dataRoot,
        imageSize: 24,
        batchSize: 3,
        seed,
        concurrency,
        augment: { rotation: 10, brightness: 0.2, contrast: 0.2 },
      });
    const serial = await collect(make(1).epoch(3));
    const parallel = await collect(make(6).epoch(3));
    expect(parallel.map((batch) => Array.from(batch.images))).toEqual(
      serial.map((batch) => Array.from(batch.images)),
    );
    const otherEpoch = await collect(make(1).epoch(4));
    expect(Array.from(otherEpoch[0].images)).not.toEqual(Array.from(serial[0].images));
    const plain = await collect(
      createLoader({
        samples: samples.slice(0, 6),
        dataRoot: dataset.dataRoot,
        imageSize: 24,
        batchSize: 3,
      }).epoch(3),
    );
    expect(Array.from(plain[0].images)).not.toEqual(Array.from(serial[0].images));
  });

  it("gives the same batches whether PNGs take the fast path or sharp alone", async () => {
    const make = (fastPng: boolean) =>
      createLoader({
        samples: samples.slice(0, 6),
        dataRoot: dataset.dataRoot,
        imageSize: 24,
        batchSize: 3,
        seed: 5,
        augment: true,
        readPixels: (source, options) => readPixels(source, { ...options, fastPng }),
      });
    const fast = await collect(make(true).epoch(2));
    const sharpOnly = await collect(make(false).epoch(2));
    expect(fast.map((batch) => Array.from(batch.images))).toEqual(
      sharpOnly.map((batch) => Array.from(batch.images)),
    );
  });

  it.skipIf(!existsSync(chestImages))(
    "gives the same RandomResizedCrop batches of real chest X-rays with the fast path or sharp alone",
    async () => {
      const names = (await readdir(chestImages)).filter((name) => name.endsWith(".png")).sort();
      const chest: Sample[] = names
        .slice(0, 8)
        .map((name) => ({ name, labels: new Uint8Array(14) }));
      const make = (fastPng: boolean, concurrency: number) =>
        createLoader({
          samples: chest,
          dataRoot: chestImages,
          imageSize: 224,
          batchSize: 4,
          shuffle: true,
          seed: 11,
          concurrency,
          augment: { randomResizedCrop: true, horizontalFlip: 0.5 },
          readPixels: (source, options) => readPixels(source, { ...options, fastPng }),
        });
      const fast = await collect(make(true, 4).epoch(1));
      const sharpOnly = await collect(make(false, 1).epoch(1));
      expect(fast.map((batch) => batch.names)).toEqual(sharpOnly.map((batch) => batch.names));
      fast.forEach((batch, index) => {
        // Byte for byte; Buffer.compare keeps 2.4 MB batches fast to compare.
        const other = Buffer.from(sharpOnly[index].images.buffer);
        expect(Buffer.compare(Buffer.from(batch.images.buffer), other)).toBe(0);
      });
    },
  );

  it("gives the same batches with worker threads as on the calling thread", async () => {
    const make = (workers: number) =>
      createLoader({
        samples: samples.slice(0, 9),
        dataRoot: dataset.dataRoot,
        imageSize: 24,
        batchSize: 4,
        shuffle: true,
        seed: 8,
        workers,
        augment: { rotation: 10, brightness: 0.2, contrast: 0.2 },
      });
    const threadedLoader = make(2);
    for (const epoch of [0, 3]) {
      const inThread = await collect(make(0).epoch(epoch));
      const threaded = await collect(threadedLoader.epoch(epoch));
      // Closing stops the threads; the next epoch starts new ones.
      await threadedLoader.close();
      expect(threaded.map((batch) => batch.names)).toEqual(inThread.map((batch) => batch.names));
      threaded.forEach((batch, index) => {
        const other = Buffer.from(inThread[index].images.buffer);
        expect(Buffer.compare(Buffer.from(batch.images.buffer), other)).toBe(0);
      });
    }
  });

  it.skipIf(!existsSync(chestImages))(
    "gives the same RandomResizedCrop batches of real chest X-rays with worker threads",
    async () => {
      const names = (await readdir(chestImages)).filter((name) => name.endsWith(".png")).sort();
      const chest: Sample[] = names
        .slice(0, 8)
        .map((name) => ({ name, labels: new Uint8Array(14) }));
      const make = (workers: number) =>
        createLoader({
          samples: chest,
          dataRoot: chestImages,
          imageSize: 224,
          batchSize: 4,
          shuffle: true,
          seed: 11,
          workers,
          augment: { randomResizedCrop: true, horizontalFlip: 0.5 },
        });
      const inThread = await collect(make(0).epoch(1));
      const threaded = await collect(make(2).epoch(1));
      threaded.forEach((batch, index) => {
        const other = Buffer.from(inThread[index].images.buffer);
        expect(Buffer.compare(Buffer.from(batch.images.buffer), other)).toBe(0);
      });
    },
  );

  it("keeps at most prefetch batches decoding ahead of the consumer", async () => {
    let reads = 0;
    const counting: typeof readPixels = (source, options) => {
      reads += 1;
      return readPixels(source, options);
    };
    const loader = createLoader({
      samples,
      dataRoot: dataset.dataRoot,
      imageSize: 8,
      batchSize: 2,
      prefetch: 2,
      concurrency: 8,
      readPixels: counting,
    });
    const iterator = loader.epoch(0)[Symbol.asyncIterator]();
    await iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Batch 0 is held by the caller; batches 1 and 2 may be decoding; nothing beyond.
    expect(reads).toBe(6);
    await iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(reads).toBe(8);
    await iterator.return?.();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(reads).toBe(8);
  });

  it("names the corrupt file, or skips it and records why", async () => {
    const corrupt = "corrupt.png";
    await writeFile(join(dataset.dataRoot, corrupt), Buffer.from("\x89PNG\r\n\x1a\nnot really"));
    const withCorrupt: Sample[] = [
      ...samples.slice(0, 3),
      { name: corrupt, labels: new Uint8Array(19) },
    ];
    const failing = createLoader({
      samples: withCorrupt,
      dataRoot: dataset.dataRoot,
      imageSize: 8,
      batchSize: 4,
    });
    const threaded = createLoader({
      samples: withCorrupt,
      dataRoot: dataset.dataRoot,
      imageSize: 8,
      batchSize: 4,
      workers: 2,
    });
    for (const loader of [failing, threaded]) {
      const error = await collect(loader.epoch(0)).catch((caught: unknown) => caught);
      expect(ImageError.isInstance(error)).toBe(true);
      expect((error as ImageError).file).toBe(join(dataset.dataRoot, corrupt));
      expect((error as Error).message).toContain("corrupt.png");
    }

    const skipping = createLoader({
      samples: withCorrupt,
      dataRoot: dataset.dataRoot,
      imageSize: 8,
      batchSize: 4,
      onCorrupt: "skip",
    });
    const batches = await collect(skipping.epoch(0));
    expect(batches).toHaveLength(1);
    expect(batches[0].names).toEqual(samples.slice(0, 3).map((sample) => sample.name));
    expect(batches[0].shape).toEqual([3, 8, 8, 3]);
    expect(batches[0].labels).toHaveLength(3 * 19);
    expect(skipping.skipped).toHaveLength(1);
    expect(skipping.skipped[0]).toMatchObject({ name: corrupt, epoch: 0 });
  });

  it("names a file that cannot be read, from worker threads as on the calling thread", async () => {
    const withMissing: Sample[] = [
      ...samples.slice(0, 2),
      { name: "missing.png", labels: new Uint8Array(19) },
    ];
    for (const workers of [0, 2]) {
      const loader = createLoader({
        samples: withMissing,
        dataRoot: dataset.dataRoot,
        imageSize: 8,
        batchSize: 4,
        workers,
      });
      const error = await collect(loader.epoch(0)).catch((caught: unknown) => caught);
      await loader.close();
      expect(ImageError.isInstance(error), `workers ${workers}`).toBe(true);
      expect((error as ImageError).file).toBe(join(dataset.dataRoot, "missing.png"));
      expect((error as Error).message).toMatch(/missing\.png.*cannot read image/);
    }
  });

  it("reads from the on-disk cache with the same results every epoch", async () => {
    const cacheDir = join(directory, "cache");
    const make = () =>
      createLoader({
        samples: samples.slice(0, 5),
        dataRoot: dataset.dataRoot,
        imageSize: 16,
        batchSize: 5,
        augment: true,
        seed: 1,
        cache: { dir: cacheDir, shortSide: 20 },
      });
    const cold = await collect(make().epoch(0));
    const warm = await collect(make().epoch(0));
    expect(Array.from(warm[0].images)).toEqual(Array.from(cold[0].images));
    expect(await readdir(cacheDir)).toHaveLength(5);
    const plain = await collect(
      createLoader({
        samples: samples.slice(0, 5),
        dataRoot: dataset.dataRoot,
        imageSize: 16,
        batchSize: 5,
      }).epoch(0),
    );
    const cachedPlain = await collect(
      createLoader({
        samples: samples.slice(0, 5),
        dataRoot: dataset.dataRoot,
        imageSize: 16,
        batchSize: 5,
        cache: { dir: cacheDir, shortSide: 20 },
      }).epoch(0),
    );
    // Resizing from the 20 px cached copy instead of the 40 px original changes little.
    let difference = 0;
    plain[0].images.forEach((value, i) => {
      difference += Math.abs(value - cachedPlain[0].images[i]);
    });
    expect(difference / plain[0].images.length).toBeLessThan(0.1);
  });

  it("refuses names outside the data root and inconsistent label counts", () => {
    const outside: Sample[] = [{ name: "../secret.png", labels: new Uint8Array(19) }];
    expect(() =>
      createLoader({ samples: outside, dataRoot: dataset.dataRoot, imageSize: 8, batchSize: 1 }),
    ).toThrow(/outside the data root/);
    const mixed: Sample[] = [samples[0], { name: samples[1].name, labels: new Uint8Array(4) }];
    expect(() =>
      createLoader({ samples: mixed, dataRoot: dataset.dataRoot, imageSize: 8, batchSize: 1 }),
    ).toThrow(/has 4 labels, expected 19/);
  });
});

describe.skipIf(!existsSync(chestImages))(
  "createLoader on real X-rays: refused files and the pixel budget",
  () => {
    const xray = "00000129_000.png"; // 1024 × 1024
    const one = (name: string): Sample[] => [{ name, labels: new Uint8Array([1, 0]) }];
    const firstError = async (loader: ReturnType<typeof createLoader>) => {
      try {
        await collect(loader.epoch(0));
      } catch (error) {
        return error;
      }
      throw new Error("expected the epoch to fail");
    };

    it("refuses a symlink leading outside the data root and a directory in place of an image", async () => {
      const root = await mkdtemp(join(tmpdir(), "medfm-root-"));
      await symlink(join(chestImages, xray), join(root, "linked.png"));
      await mkdir(join(root, "folder.png"));
      const base = { dataRoot: root, imageSize: 8, batchSize: 1 };
      const linked = await firstError(createLoader({ ...base, samples: one("linked.png") }));
      expect(ImageError.isInstance(linked)).toBe(true);
      expect((linked as ImageError).message).toBe(
        `${join(root, "linked.png")}: is a symbolic link to ${join(chestImages, xray)}, outside the data root ${root} (refused; allow with followSymlinks)`,
      );
      const folder = await firstError(createLoader({ ...base, samples: one("folder.png") }));
      expect((folder as ImageError).message).toBe(
        `${join(root, "folder.png")}: is a directory, not an image file`,
      );
      const followed = await collect(
        createLoader({ ...base, samples: one("linked.png"), followSymlinks: true }).epoch(0),
      );
      expect(followed[0].names).toEqual(["linked.png"]);
    });

    it("refuses an image over maxPixels before decoding it, naming the file and its size", async () => {
      let decoded = 0;
      const counting: typeof readPixels = (source, options) => {
        decoded += 1;
        return readPixels(source, options);
      };
      const loader = createLoader({
        samples: one(xray),
        dataRoot: chestImages,
        imageSize: 8,
        batchSize: 1,
        maxPixels: 1000 * 1000,
        readPixels: counting,
      });
      const error = await firstError(loader);
      expect((error as ImageError).message).toBe(
        `${join(chestImages, xray)}: 1024×1024 image (1048576 pixels) exceeds maxPixels 1000000; refused before decoding (raise maxPixels to load it)`,
      );
      expect(decoded).toBe(0);
    });

    it("refuses a 9000 × 9000 PNG by default from its header alone", async () => {
      const root = await mkdtemp(join(tmpdir(), "medfm-huge-"));
      const chunk = (type: string, data: Buffer): Buffer => {
        const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
        const out = Buffer.alloc(body.length + 8);
        out.writeUInt32BE(data.length, 0);
        body.copy(out, 4);
        out.writeUInt32BE(crc32(body), body.length + 4);
        return out;
      };
      const header = Buffer.alloc(13);
      header.writeUInt32BE(9000, 0);
      header.writeUInt32BE(9000, 4);
      header[8] = 8; // 8-bit gray
      const png = Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk("IHDR", header),
        chunk("IDAT", deflateSync(Buffer.alloc(9001))), // one row: the header is all that is read
        chunk("IEND", Buffer.alloc(0)),
      ]);
      await writeFile(join(root, "huge.png"), png);
      const error = await firstError(
        createLoader({ samples: one("huge.png"), dataRoot: root, imageSize: 8, batchSize: 1 }),
      );
      expect((error as ImageError).message).toContain(
        "huge.png: 9000×9000 image (81000000 pixels) exceeds maxPixels 67108864",
      );
    });

    it("decodes at once only as many images as fit in maxPixels", async () => {
      const names = (await readdir(chestImages))
        .filter((name) => name.endsWith(".png"))
        .slice(0, 8);
      for (const [images, expected] of [
        [1, 1],
        [2, 2],
      ] as const) {
        let running = 0;
        let peak = 0;
        const tracking: typeof readPixels = async (source, options) => {
          running += 1;
          peak = Math.max(peak, running);
          try {
            return await readPixels(source, options);
          } finally {
            running -= 1;
          }
        };
        const loader = createLoader({
          samples: names.map((name) => ({ name, labels: new Uint8Array([1, 0]) })),
          dataRoot: chestImages,
          imageSize: 8,
          batchSize: 4,
          concurrency: 4,
          maxPixels: images * 1024 * 1024,
          readPixels: tracking,
        });
        expect((await collect(loader.epoch(0))).flatMap((batch) => batch.names)).toEqual(names);
        expect(peak).toBe(expected);
      }
    });
  },
);
