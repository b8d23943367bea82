// Makes the built pkgdown site (docs/) work with no network: pkgdown's
// template loads several scripts and styles from CDNs (and Debian's pkgdown
// points MathJax at file:///usr/share/javascript). This copies local
// copies into docs/deps/offline (from dev/browser/node_modules, Debian's
// libjs-mathjax and dev/site/toc.js) and rewrites every page to use them.
// Usage: node dev/site-offline.js docs
const fs = require("fs");
const path = require("path");

const docs = path.resolve(process.argv[2] || "docs");
const modules = path.join(__dirname, "browser", "node_modules");
const offline = path.join(docs, "deps", "offline");

// CDN address -> file under deps/offline, and where that file comes from
const assets = [
  ["https://cdnjs.cloudflare.com/ajax/libs/headroom/0.11.0/headroom.min.js", "headroom.min.js", "headroom.js/dist/headroom.min.js"],
  ["https://cdnjs.cloudflare.com/ajax/libs/headroom/0.11.0/jQuery.headroom.min.js", "jQuery.headroom.min.js", "headroom.js/dist/jQuery.headroom.min.js"],
  ["https://cdnjs.cloudflare.com/ajax/libs/clipboard.js/2.0.6/clipboard.min.js", "clipboard.min.js", "clipboard/dist/clipboard.min.js"],
  ["https://cdnjs.cloudflare.com/ajax/libs/fuse.js/6.4.6/fuse.js", "fuse.js", "fuse.js/dist/fuse.js"],
  ["https://cdnjs.cloudflare.com/ajax/libs/autocomplete.js/0.38.0/autocomplete.jquery.min.js", "autocomplete.jquery.min.js", "autocomplete.js/dist/autocomplete.jquery.min.js"],
  ["https://cdnjs.cloudflare.com/ajax/libs/mark.js/8.11.1/mark.min.js", "mark.min.js", "mark.js/dist/mark.min.js"],
  ["https://cdn.jsdelivr.net/gh/afeld/bootstrap-toc@v1.0.1/dist/bootstrap-toc.min.js", "toc.js", null],
  ["https://cdnjs.cloudflare.com/ajax/libs/font-awesome/5.12.1/css/all.min.css", "fontawesome/css/all.min.css", null],
  ["https://cdnjs.cloudflare.com/ajax/libs/font-awesome/5.12.1/css/v4-shims.min.css", "fontawesome/css/v4-shims.min.css", null],
  ["https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.5/config/TeX-AMS-MML_HTMLorMML.js", "mathjax/config/TeX-AMS-MML_HTMLorMML.js", null],
  ["file:///usr/share/javascript/mathjax/MathJax.js", "mathjax/MathJax.js", null],
];

fs.mkdirSync(offline, { recursive: true });
for (const [, target, source] of assets) {
  if (source) fs.copyFileSync(path.join(modules, source), path.join(offline, target));
}
fs.copyFileSync(path.join(__dirname, "site", "toc.js"), path.join(offline, "toc.js"));
fs.cpSync(path.join(modules, "@fortawesome", "fontawesome-free"), path.join(offline, "fontawesome"),
          { recursive: true, filter: (p) => !/\/(js|svgs|sprites|less|scss)(\/|$)/.test(p) });
fs.cpSync("/usr/share/javascript/mathjax", path.join(offline, "mathjax"),
          { recursive: true, dereference: true, filter: (p) => !/\/(test|unpacked)(\/|$)/.test(p) });

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
function rewrite(file) {
  const depth = path.relative(docs, path.dirname(file)).split(path.sep).filter(Boolean).length;
  const prefix = "../".repeat(depth) + "deps/offline/";
  let html = fs.readFileSync(file, "utf8");
  for (const [url, target] of assets) {
    // Subresource-integrity hashes name the CDN's bytes, not ours: drop them.
    const tag = new RegExp(`(src|href)="${escape(url)}"(\\s+integrity="[^"]*")?(\\s+crossorigin="[^"]*")?`, "g");
    html = html.replace(tag, `$1="${prefix}${target}"`);
  }
  fs.writeFileSync(file, html);
}
(function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && full !== offline) walk(full);
    else if (entry.name.endsWith(".html")) rewrite(full);
  }
})(docs);
console.log(`site made offline: ${docs}`);
