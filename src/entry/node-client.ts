/** imwire/client: the portable client (as in @imwire/protocol/client) and the reference client on Node sockets. */
export * from "./client.js";
export { ClientRunner, type ClientRunnerOptions } from "../client/client-runner.js";
export { FileClientStore } from "../client/file-client-store.js";
