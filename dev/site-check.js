// Opens the built pkgdown site (docs/) in headless Chromium, visits every
// page it links to, and fails on broken internal links, images that do not
// load and console errors. Saves screenshots of the home page and of one
// article. Requests to other hosts are blocked (this check needs no network)
// and not counted. Usage: node dev/site-check.js <port> <screenshot dir>
const path = require("path");
const { chromium } = require(path.join(__dirname, "browser", "node_modules", "playwright-core"));

(async () => {
  const [port, shots] = process.argv.slice(2);
  const origin = `http://127.0.0.1:${port}`;
  const browser = await chromium.launch({
    executablePath: process.env.HIERMOD_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const problems = [];
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.route("**/*", (route) =>
    route.request().url().startsWith(origin) ? route.continue() : route.abort());
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/ERR_FAILED|ERR_BLOCKED/.test(msg.text())) {
      problems.push(`console error on ${page.url()}: ${msg.text()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`script error on ${page.url()}: ${e}`));
  const seen = new Set();
  const queue = [`${origin}/index.html`];
  while (queue.length) {
    const url = queue.shift();
    if (seen.has(url)) continue;
    seen.add(url);
    const response = await page.goto(url);
    if (!response || response.status() >= 400) {
      problems.push(`broken link: ${url} (${response ? response.status() : "no response"})`);
      continue;
    }
    if (!url.endsWith(".html")) continue;
    const broken = await page.$$eval("img", (imgs) =>
      imgs.filter((i) => i.src.startsWith(location.origin) && !(i.complete && i.naturalWidth > 0))
          .map((i) => i.src));
    broken.forEach((src) => problems.push(`missing image on ${url}: ${src}`));
    const links = await page.$$eval("a[href]", (as) => as.map((a) => a.href));
    for (const link of links) {
      const target = link.split("#")[0];
      if (target.startsWith(origin) && !seen.has(target)) queue.push(target);
    }
    if (url === `${origin}/index.html`) {
      await page.screenshot({ path: path.join(shots, "site-home.png") });
    }
    if (url.endsWith("/articles/schools.html")) {
      await page.screenshot({ path: path.join(shots, "site-article.png") });
    }
  }
  await browser.close();
  console.log(`site check: ${seen.size} pages and files visited, ${problems.length} problems`);
  problems.forEach((p) => console.log("  " + p));
  process.exit(problems.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
