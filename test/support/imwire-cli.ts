// Runs the imwire CLI from the TypeScript sources (bin/imwire.js runs the
// compiled dist/): `node --import tsx test/support/imwire-cli.ts vectors testee`
// is how the harness tests spawn the TypeScript testee.
import { main } from "../../src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
