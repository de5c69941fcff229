/**
 * Trains briefly, writes the HTML report and opens it in headless Chromium (Debian's
 * `chromium`, driven by playwright-core): no console errors, charts drawn, page not blank.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfmLines as medfm } from "../testing/run-medfm";

const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
const workDir = mkdtempSync(join(tmpdir(), "medfm-report-"));
const startDir = process.cwd();

if (!chromium && process.env.CI === "true") {
  throw new Error("CI needs Chromium for the report test: apt-get install chromium");
}
if (!chromium)
  console.warn(
    "report.test.ts: skipped, no Chromium at /usr/bin/chromium (apt-get install chromium)",
  );

async function openInChromium(file: string) {
  const { chromium: browserType } = await import("playwright-core");
  const browser = await browserType.launch({
    executablePath: chromium,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`file://${file}`);
    const paths = await page.locator("svg path.series").count();
    const sections = await page.locator("section h2").allTextContents();
    const chartBox = await page.locator("#curves svg").first().boundingBox();
    const screenshot = await page.screenshot({ fullPage: false });
    return { errors, paths, sections, chartBox, screenshot };
  } finally {
    await browser.close();
  }
}

/** A blank (single-colour) 1280×900 page compresses to a PNG of a few kilobytes; a drawn one does not. */
function looksBlank(png: Buffer): boolean {
  return png.length < 8_000;
}

describe.skipIf(!chromium)("medfm report", () => {
  beforeAll(() => {
    process.chdir(workDir);
    process.env.MEDFM_BACKEND = "wasm";
    process.env.CI = "true";
  });
  afterAll(() => {
    process.chdir(startDir);
    rmSync(workDir, { recursive: true, force: true });
  });

  it("renders a colon run: curves, per-class table, PR/ROC and the confusion matrix", async () => {
    const trained = await medfm([
      "train",
      "--task",
      "colon",
      "--epochs",
      "2",
      "--image-size",
      "32",
      "--output",
      "ck-colon",
    ]);
    const runPath = trained.at(-1)!.match(/stored in (.+)$/)![1];
    const written = await medfm(["report", runPath]);
    const file = written[0].match(/written to (.+)$/)![1];
    const html = readFileSync(file, "utf8");
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    const page = await openInChromium(file);
    expect(page.errors).toEqual([]);
    expect(page.sections).toEqual([
      "Parameters",
      "Training curves",
      "Per-class results",
      "Precision–recall and ROC curves",
      "Confusion matrix",
      "Label statistics",
      "Grad-CAM gallery",
    ]);
    // Three most and three least confident validation images, as PNG data URIs.
    expect(
      html.match(
        /<img alt="(most|least)_confident_\d-(negative|positive)-[\d.]+\.png" src="data:image\/png;base64,/g,
      ),
    ).toHaveLength(6);
    // Loss + 2 validation metrics + PR and ROC for each of the 2 classes.
    expect(page.paths).toBe(3 + 4);
    expect(page.chartBox!.width).toBeGreaterThan(300);
    expect(looksBlank(page.screenshot)).toBe(false);
    expect(html).toMatch(/<table class="confusion">/);
  });

  it("renders a chest run without a confusion matrix and skips classes with no positives", async () => {
    const trained = await medfm([
      "train",
      "--task",
      "chest",
      "--epochs",
      "1",
      "--image-size",
      "32",
      "--output",
      "ck-chest",
    ]);
    const runPath = trained.at(-1)!.match(/stored in (.+)$/)![1];
    const written = await medfm(["report", runPath, "--output", join(workDir, "chest.html")]);
    expect(written[0]).toContain("chest.html");
    const page = await openInChromium(join(workDir, "chest.html"));
    expect(page.errors).toEqual([]);
    expect(page.sections).not.toContain("Confusion matrix");
    // 8 synthetic chest classes occur: PR + ROC each, plus loss and 2 metric lines.
    expect(page.paths).toBe(3 + 16);
    const html = readFileSync(join(workDir, "chest.html"), "utf8");
    expect(html).toMatch(/has no positive target/);
  });
});
