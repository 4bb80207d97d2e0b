import { readFileSync } from "node:fs";
import { renderMarkdown, type Report } from "./report.js";

/** Prints the Markdown tables of a result file: `npx tsx bench/render.ts bench/results/latest.json`. */
const file = process.argv[2] ?? new URL("./results/latest.json", import.meta.url).pathname;
console.log(renderMarkdown(JSON.parse(readFileSync(file, "utf8")) as Report));
