/**
 * Semantic comparison of canonical JSON (EXT-4): parsed values, object keys
 * in any order, arrays in order. Numbers and strings are never equal to each
 * other: 64-bit integers are strings in canonical JSON, and a testee that
 * prints them as numbers is told so, since its numbers may have lost precision.
 */

export interface JsonDifference {
  /** Where, as $.a.b[2]. */
  readonly path: string;
  readonly expected: unknown;
  readonly actual: unknown;
  readonly note?: string;
}

export function firstJsonDifference(expected: unknown, actual: unknown, path = "$"): JsonDifference | undefined {
  if (Array.isArray(expected) || Array.isArray(actual)) {
    if (!Array.isArray(expected) || !Array.isArray(actual)) return { path, expected, actual };
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      if (i >= expected.length) return { path: `${path}[${i}]`, expected: undefined, actual: actual[i], note: "extra element" };
      if (i >= actual.length) return { path: `${path}[${i}]`, expected: expected[i], actual: undefined, note: "missing element" };
      const inner = firstJsonDifference(expected[i], actual[i], `${path}[${i}]`);
      if (inner) return inner;
    }
    return undefined;
  }
  if (isObject(expected) && isObject(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
    for (const key of keys) {
      const inner = firstJsonDifference(expected[key], actual[key], `${path}.${key}`);
      if (inner) return inner;
    }
    return undefined;
  }
  if (Object.is(expected, actual)) return undefined;
  if (typeof expected === "string" && typeof actual === "number" && /^-?\d+$/.test(expected)) {
    return { path, expected, actual, note: "64-bit integers are JSON strings in canonical JSON (EXT-4)" };
  }
  return { path, expected, actual };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON value cut to a readable length for a report line. */
export function shortJson(value: unknown, max = 60): string {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function describeDifference(difference: JsonDifference): string {
  const note = difference.note ? ` (${difference.note})` : "";
  return `JSON differs at ${difference.path}: expected ${shortJson(difference.expected)}, got ${shortJson(difference.actual)}${note}`;
}
