import { pino, type DestinationStream } from "pino";

/** Structured detail for a log line: ids, kinds, sizes, counts. Never secrets or message contents. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** Where the reference server reports what it does. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Optional, so that a logger a test writes by hand needs only the three above. */
  debug?(message: string, fields?: LogFields): void;
}

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  /** Lines below this level are dropped (default info). */
  readonly level?: LogLevel;
  /**
   * json (default): pino's own NDJSON, one object a line with time, level,
   * msg and the fields; what log shippers and `jq` read, and the same on a
   * terminal as in a file, so what a user pastes is what a tool parses.
   * (pino-pretty would be the usual human form; it is not a dependency.)
   * text: one compact line, "time LEVEL msg key=value...", for reading.
   */
  readonly format?: LogFormat;
  /** Where lines go (default stderr: stdout stays free for tools). */
  readonly destination?: LineSink;
}

/** Anything pino can write a line to. */
export interface LineSink {
  write(line: string): unknown;
}

/** A pino logger behind the Logger interface. */
export function createLogger(options: LoggerOptions = {}): Logger {
  // Synchronous writes: a line logged just before a crash or process.exit is not lost in a buffer.
  const sink = options.destination ?? pino.destination({ dest: 2, sync: true });
  const destination: DestinationStream = options.format === "text" ? textDestination(sink) : (sink as DestinationStream);
  const logger = pino(
    {
      level: options.level ?? "info",
      // No pid or hostname on every line: one server per process, and the host is the log shipper's business.
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  const at =
    (level: "debug" | "info" | "warn" | "error") =>
    (message: string, fields?: LogFields): void => {
      if (fields === undefined) logger[level](message);
      else logger[level](fields, message);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * The text form, written from pino's JSON line rather than by a second
 * logger, so both formats carry exactly the same fields.
 */
export function textDestination(sink: LineSink): DestinationStream {
  return {
    write(line: string) {
      const { time, level, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const detail = Object.entries(fields).map(([key, value]) => ` ${key}=${formatValue(value)}`);
      sink.write(`${String(time)} ${String(level).toUpperCase().padEnd(5)} ${String(msg)}${detail.join("")}\n`);
    },
  };
}

function formatValue(value: unknown): string {
  return typeof value === "string" && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
