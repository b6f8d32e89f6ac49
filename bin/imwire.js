#!/usr/bin/env node
// The imwire command. The TypeScript sources are compiled to dist/ by
// `npm ci` (the "prepare" script) or `npm run build`.
import "../dist/cli/run.js";
