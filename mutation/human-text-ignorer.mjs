// A Stryker ignorer: text meant for people is not mutated, because no server
// behaviour on the wire depends on it — log lines (they never reach a peer),
// the messages of errors (ERR-3: a receiver acts on `code`, never on
// `message`), the requirement ids errors name (ERR-2 makes naming them a
// SHOULD, which the runner does not judge), go_away and close reasons, and
// connection descriptions. Everything else — codes, flags, ids, cursors,
// limits, states — is mutated. The mutants it leaves out are reported by
// Stryker as "Ignored", with the reason below.
import { PluginKind, declareValuePlugin } from "@stryker-mutator/api/plugin";

const LOG_METHODS = new Set(["info", "warn", "error"]);
const TEXT_PROPERTIES = new Set(["message", "requirement", "reason"]);
const ERROR_CLASSES = new Set(["Error", "RangeError", "TypeError", "RequestError", "ImwireError"]);

const isText = (node) => node.type === "StringLiteral" || node.type === "TemplateLiteral";
const nameOf = (node) => (node?.type === "Identifier" ? node.name : node?.type === "PrivateName" ? `#${node.id.name}` : undefined);

/** `log.warn(…)`, `this.#log.info(…)`, `this.log.error(…)`, `options.log.info(…)`. */
function isLogCall(node) {
  if (node?.type !== "CallExpression" || node.callee.type !== "MemberExpression") return false;
  const method = nameOf(node.callee.property);
  const target = node.callee.object;
  const owner = target.type === "MemberExpression" ? nameOf(target.property) : nameOf(target);
  return LOG_METHODS.has(method) && (owner === "log" || owner === "#log" || owner === "stderrLogger");
}

const isLogStatement = (node) => node?.type === "ExpressionStatement" && isLogCall(node.expression);
const onlyLogs = (node) => (node?.type === "BlockStatement" ? node.body.length > 0 && node.body.every(isLogStatement) : isLogStatement(node));

function reasonFor(path) {
  const node = path.node;
  const parent = path.parent;
  if (isLogStatement(node)) return "a log line: it never reaches the wire";
  if (node.type === "BlockStatement" && onlyLogs(node)) return "a block of log lines only: nothing reaches the wire";
  if (node.type === "IfStatement" && onlyLogs(node.consequent) && (node.alternate === null || onlyLogs(node.alternate))) return "a condition that only decides whether to log";
  if (node.type === "ArrowFunctionExpression" && isLogCall(node.body)) return "a callback that only logs";
  if (!isText(node)) return undefined;
  if (parent.type === "NewExpression" && ERROR_CLASSES.has(nameOf(parent.callee)) && path.listKey === "arguments") return "an error's message or requirement id: text for people (ERR-3 acts on the code)";
  if (parent.type === "CallExpression" && nameOf(parent.callee.property) === "#fatal" && path.key >= 2) return "a fatal error's requirement id or message: text for people (ERR-3 acts on the code)";
  if (parent.type === "CallExpression" && nameOf(parent.callee) === "checkId" && path.key === 1) return "the field name in a LIM-2 error's message: text for people";
  if (parent.type === "ObjectProperty" && path.key === "value" && TEXT_PROPERTIES.has(nameOf(parent.key))) return "an error's or go_away's message, reason or requirement id: text for people";
  if (parent.type === "CallExpression" && ["close", "shutdown"].includes(nameOf(parent.callee.property)) && path.key === 0) return "a shutdown reason: text for people (go_away.reason, logs)";
  if (parent.type === "AssignmentExpression" && parent.left.type === "MemberExpression" && nameOf(parent.left.property) === "description") return "a connection's description, for logs";
  if (parent.type === "NewExpression" && /Transport$/.test(nameOf(parent.callee) ?? "") && path.key === 1) return "a connection's description, for logs";
  return undefined;
}

export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, "human-text", { shouldIgnore: reasonFor })];
