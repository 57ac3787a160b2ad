// Pictures of example cards for the README, laid out as the public CDS Hooks sandbox shows them
// (cards sorted by indicator, a coloured summary, the source label as a link, the detail as GitHub-flavoured
// markdown with raw HTML, suggestions and links as buttons, Dismiss when the card has a uuid).
//
// The cards come from the reviewed response snapshots (tests/it/snapshots/CASE.snap). For each case this
// writes docs/cards/CASE.json (the cards pictured; a test fails when they no longer match the snapshot)
// and docs/cards/CASE.png.
//
//   npm ci --prefix docs/cards && node docs/cards/render.mjs [CASE ...]
//
// Needs Chromium (Debian: apt-get install chromium); CHROMIUM overrides /usr/bin/chromium.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { marked } from "marked";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const cases = process.argv.slice(2);
if (cases.length === 0) cases.push("iliofemoral-dvt-apixaban", "v5-phlegmasia-apixaban", "missing-severity-snomed");

const colours = { critical: "#c00", warning: "#c25e00", info: "#0065a3" };
const order = { critical: 0, warning: 1, info: 2 };

function snapshotCards(name) {
  const text = readFileSync(join(root, "tests/it/snapshots", `${name}.snap`), "utf8");
  const body = text.split(/^---$/m)[2];
  return JSON.parse(body).cards;
}

const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function cardHtml(card) {
  const source = card.source.url
    ? `<a href="${escape(card.source.url)}">${escape(card.source.label)}</a>`
    : escape(card.source.label);
  const buttons = [
    ...(card.suggestions ?? []).map((s) => `<button>${escape(s.label)}</button>`),
    ...(card.links ?? []).map((l) => `<button class="link">${escape(l.label)}</button>`),
  ];
  const dismiss = card.uuid ? `<button class="dismiss">Dismiss</button>` : "";
  return `<section class="card" style="border-left-color:${colours[card.indicator]}">
  <h2 style="color:${colours[card.indicator]}">${escape(card.summary)}</h2>
  <div class="source">Source: ${source}</div>
  <div class="detail">${marked.parse(card.detail ?? "")}</div>
  <div class="buttons">${buttons.join("")}${dismiss}</div>
</section>`;
}

const style = `
body { margin: 0; background: #f4f4f4; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1c1f21; }
#cards { width: 780px; padding: 12px; }
.card { background: #fff; border: 1px solid #dedfe0; border-left: 6px solid; border-radius: 3px; padding: 10px 14px; margin-bottom: 12px; }
h2 { font-size: 17px; margin: 2px 0 4px; }
.source { color: #64696c; font-size: 12px; margin-bottom: 8px; }
a { color: #0065a3; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #dedfe0; padding: 3px 8px; text-align: left; }
th { background: #f4f4f4; }
blockquote { margin: 6px 0; padding-left: 10px; border-left: 3px solid #dedfe0; color: #4a4f52; }
code { font-size: 12px; background: #f4f4f4; padding: 0 3px; }
p, ul { margin: 6px 0; }
.buttons { margin-top: 8px; }
button { font: inherit; background: #fff; border: 1px solid #b1b5b6; border-radius: 3px; padding: 4px 10px; margin: 0 6px 6px 0; }
button.link { color: #0065a3; }
button.dismiss { float: right; }
.buttons::after { content: ""; display: block; clear: both; }
`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 820, height: 600 } });
  for (const name of cases) {
    const cards = snapshotCards(name);
    writeFileSync(join(here, `${name}.json`), JSON.stringify(cards, null, 2) + "\n");
    const sorted = [...cards].sort((a, b) => order[a.indicator] - order[b.indicator]);
    await page.setContent(`<!doctype html><meta charset="utf-8"><style>${style}</style><div id="cards">${sorted.map(cardHtml).join("")}</div>`);
    await page.locator("#cards").screenshot({ path: join(here, `${name}.png`) });
    console.log(`docs/cards/${name}.png: ${cards.length} card(s)`);
  }
} finally {
  await browser.close();
}
