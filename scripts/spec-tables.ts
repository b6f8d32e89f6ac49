// Regenerates the tables of SPEC.md that are derived from the schema.
import { readFileSync, writeFileSync } from "node:fs";
import { withRequiredFieldsTable } from "./required-fields.js";

const path = new URL("../SPEC.md", import.meta.url);
const before = readFileSync(path, "utf8");
const after = withRequiredFieldsTable(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? "SPEC.md tables are up to date" : "SPEC.md tables regenerated");
