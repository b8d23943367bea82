// Drives the explore() app in headless Chromium: loads it, records the
// summary table, the shrinkage figure and the code box, takes a screenshot,
// moves the between-group prior guess towards zero, and records them again.
// Usage: node explore-browser.js <url> <screenshot.png>  (prints JSON)
const path = require("path");
const { chromium } = require(path.join(process.env.HIERMOD_BROWSER_DIR, "node_modules", "playwright-core"));

async function snapshot(page) {
  return {
    table: await page.innerText("#summary"),
    image: await page.getAttribute("#shrinkage img", "src"),
    code: await page.innerText("#code"),
  };
}

(async () => {
  const [url, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.HIERMOD_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForSelector("#summary table", { timeout: 60000 });
    await page.waitForSelector("#shrinkage img", { timeout: 60000 });
    const before = await snapshot(page);
    await page.screenshot({ path: screenshot, fullPage: true });
    // Move the slider as a user would: through its widget, which tells Shiny.
    await page.evaluate(() => {
      const slider = window.jQuery("#sd_b").data("ionRangeSlider");
      slider.update({ from: 0.05 });
      window.jQuery("#sd_b").trigger("change");
    });
    await page.waitForFunction((old) => document.querySelector("#summary").innerText !== old,
                               before.table, { timeout: 60000 });
    await page.waitForFunction((old) => document.querySelector("#shrinkage img").src !== old,
                               before.image, { timeout: 60000 });
    const after = await snapshot(page);
    console.log(JSON.stringify({ before, after, errors }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
