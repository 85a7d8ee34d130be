// Opens every page of the HTML book in headless Chromium and fails on a broken link (to a
// missing file, or to an anchor the target page does not have), a missing image, a failed
// request or a script error. Saves a screenshot of each page in BOOK/screenshots/.
// Usage: node check_book.mjs BOOK_DIR CHROMIUM
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [book, executablePath] = process.argv.slice(2);
const pages = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== "npm" && name !== "screenshots") walk(path);
    } else if (name.endsWith(".html") && path !== join(book, "index.html")) { // a redirect
      pages.push(path);
    }
  }
})(book);
pages.sort();

const shots = join(book, "screenshots");
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const anchors = new Map(); // page URL without hash -> Set of ids, read in the browser
const problems = [];
const links = [];

for (const path of pages) {
  const page = await context.newPage();
  const where = relative(book, path);
  page.on("pageerror", (error) => problems.push(`${where}: script error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${where}: console error: ${message.text()}`);
  });
  page.on("requestfailed", (request) =>
    problems.push(`${where}: failed to load ${request.url()}`));
  await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
  const found = await page.evaluate(() => ({
    ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
    brokenImages: [...document.images]
      .filter((image) => !image.complete || image.naturalWidth === 0)
      .map((image) => image.getAttribute("src")),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
  }));
  anchors.set(pathToFileURL(path).href, new Set(found.ids));
  for (const src of found.brokenImages) problems.push(`${where}: missing image ${src}`);
  for (const href of found.links) links.push([where, href]);
  await page.screenshot({ path: join(shots, where.replaceAll("/", "_") + ".png") });
  await page.close();
}
await browser.close();

for (const [where, href] of links) {
  if (!href.startsWith("file:")) continue; // the article, GitHub: not checked offline
  const [target, hash] = href.split("#");
  const file = fileURLToPath(target);
  if (!existsSync(file)) {
    problems.push(`${where}: broken link to ${relative(book, file)}`);
  } else if (hash && anchors.has(target) && !anchors.get(target).has(decodeURIComponent(hash))) {
    problems.push(`${where}: link to a missing anchor ${relative(book, file)}#${hash}`);
  }
}
for (const problem of problems) console.log("PROBLEM:", problem);
console.log(`${pages.length} pages, ${links.length} links checked: ` +
            (problems.length ? `${problems.length} problems` : "no broken link, image or script"));
process.exit(problems.length ? 1 : 0);
