#!/usr/bin/env node
// The imwire command. The TypeScript sources are compiled to dist/ by
// `npm ci` (the "prepare" script) or `npm run build`.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
