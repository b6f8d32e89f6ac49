/** Where the reference server reports what it does. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Timestamped lines on stderr, so stdout stays free for tools. */
export const stderrLogger: Logger = {
  info: (message) => process.stderr.write(`${new Date().toISOString()} ${message}\n`),
  warn: (message) => process.stderr.write(`${new Date().toISOString()} warning: ${message}\n`),
  error: (message) => process.stderr.write(`${new Date().toISOString()} error: ${message}\n`),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };
