import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PROVIDER_TYPES } from "../../src/providers/registry.js";
import { renderStatusTable } from "../../src/status/readme-table.js";

describe("README status table", () => {
  it("is the mapping tables, row for row", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = /<!-- status-table:start -->\n([\s\S]*?)\n<!-- status-table:end -->/.exec(readme)?.[1];
    // On a mismatch the diff shows the rows to paste between the markers.
    expect(section).toBe(renderStatusTable(PROVIDER_TYPES));
  });

  it("lists every provider type and every row", () => {
    const rendered = renderStatusTable(PROVIDER_TYPES);
    for (const t of PROVIDER_TYPES) {
      for (const row of t.table) expect(rendered).toContain(`| ${t.type} | ${row.answer.replace(/\|/g, "\\|")} |`);
    }
  });
});
