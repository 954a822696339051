// Loads the status page (crr status --serve) in headless Chromium, Debian's own,
// driven by playwright-core (no browser download), and reports what each rule's
// card shows, for tests/e2e/status_page.rs to hold against `crr status --json`.
//
//   node tests/browser/status_page.mjs URL OUT_DIR WATCH_RULE
//
// Prints `SNAPSHOT <json>` once the page has drawn the status (and saves
// OUT_DIR/status-page.png), then waits, without reloading, until WATCH_RULE's
// "copies · 1 h" figure changes and prints `UPDATED <json>`.
import { chromium } from "playwright-core";

const [url, outDir, watchRule] = process.argv.slice(2);
if (!url || !outDir || !watchRule) {
  console.error("usage: status_page.mjs URL OUT_DIR WATCH_RULE");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CRR_CHROMIUM || "/usr/bin/chromium",
  // As root on a machine without a network: no sandbox, no background connections.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") failures.push(`console error: ${m.text()}`); });
  page.on("requestfailed", (r) => failures.push(`request failed: ${r.url()}`));
  page.on("request", (r) => { if (!r.url().startsWith(url)) failures.push(`request outside the server: ${r.url()}`); });

  await page.goto(url);
  await page.waitForSelector("body[data-loaded]", { timeout: 30000 });
  // Marks this document: a reload would lose it.
  await page.evaluate(() => { window.crrSameDocument = true; });
  const snapshot = await page.evaluate(read);
  await page.screenshot({ path: `${outDir}/status-page.png`, fullPage: true });
  console.log(`SNAPSHOT ${JSON.stringify({ cards: snapshot, failures })}`);

  const before = snapshot.find((c) => c.rule === watchRule)?.copiesHour;
  await page.waitForFunction(([rule, before]) => {
    const dd = document.querySelector(`article[data-rule="${rule}"] [data-field="copies-hour"]`);
    return dd && dd.textContent !== before;
  }, [watchRule, before], { timeout: 60000, polling: 250 });
  const after = await page.evaluate(read);
  const sameDocument = await page.evaluate(() => window.crrSameDocument === true);
  await page.screenshot({ path: `${outDir}/status-page-updated.png`, fullPage: true });
  console.log(`UPDATED ${JSON.stringify({ cards: after, sameDocument, failures })}`);
} finally {
  await browser.close();
}

// What each card shows, as text and as the data its bar and chart were drawn from.
function read() {
  const text = (root, field) => root.querySelector(`[data-field="${field}"]`)?.textContent ?? null;
  return [...document.querySelectorAll("article.card")].map((card) => {
    const bar = card.querySelector('[role="progressbar"]');
    const fill = bar?.querySelector(".fill");
    return {
      rule: card.dataset.rule,
      source: text(card, "source"),
      destination: text(card, "destination"),
      action: text(card, "action"),
      prefixes: [...card.querySelectorAll('[data-field="prefixes"] .chip')].map((c) => c.textContent),
      objectiveState: text(card, "objective-state"),
      objective: text(card, "objective"),
      backfill: bar ? {
        percent: bar.dataset.percent, phase: bar.dataset.phase, scanned: bar.dataset.scanned, copied: bar.dataset.copied,
        bytes: bar.dataset.bytes, total: bar.dataset.total,
        filled: fill ? fill.getBoundingClientRect().width / bar.getBoundingClientRect().width : null,
        label: text(card, "percent"),
        figures: { scanned: text(card, "scanned"), copied: text(card, "copied"), bytes: text(card, "bytes"), eta: text(card, "eta"), ranges: text(card, "ranges") },
      } : null,
      ranges: [...card.querySelectorAll("tr[data-scope]")].map((tr) => tr.dataset.scope),
      p50: text(card, "p50"),
      p99: text(card, "p99"),
      copiesHour: text(card, "copies-hour"),
      failuresHour: text(card, "failures-hour"),
      last: text(card, "last"),
      chart: [...card.querySelectorAll('[data-field="chart"] g.minute')].map((g) => {
        const [d50, d99] = [g.querySelector("circle.dot50"), g.querySelector("circle.dot99")];
        return { minute: Number(g.dataset.minute), p50: Number(g.dataset.p50), p99: Number(g.dataset.p99), count: Number(g.dataset.count),
          y50: Number(d50.getAttribute("cy")), y99: Number(d99.getAttribute("cy")) };
      }),
      lines: card.querySelectorAll('[data-field="chart"] path.p50, [data-field="chart"] path.p99').length,
      failures: [...card.querySelectorAll("tr[data-key]")].map((tr) => ({
        key: tr.dataset.key, type: tr.querySelector(".type")?.textContent, fix: tr.querySelector(".fix")?.textContent ?? null,
      })),
      problems: [...card.querySelectorAll('[data-field="problem"]')].map((p) => p.textContent),
    };
  });
}
