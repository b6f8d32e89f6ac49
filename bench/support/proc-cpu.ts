import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";

/** Clock ticks per second, the unit of /proc/<pid>/stat's utime and stime (100 on Linux almost always). */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds (user + system, every thread of it: a Node process's worker
 * threads included) a process has used so far; 0 once it is gone. Read from
 * /proc/<pid>/stat, so it works for any process on the machine, a
 * PostgreSQL backend included, at a resolution of one clock tick (10 ms).
 */
export function processCpuSeconds(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / TICKS_PER_SECOND;
}

/** A process's command line as ps shows it ("postgres: 15/main: walwriter"), or "" once it is gone. */
export function processCommandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
  } catch {
    return "";
  }
}

/** The processes that `uid` owns now. */
export function processesOwnedBy(uid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (statSync(`/proc/${name}`).uid === uid) pids.push(Number(name));
    } catch {
      // it ended while we looked
    }
  }
  return pids;
}

/** A user's numeric id from /etc/passwd, or undefined when there is no such user. */
export function userId(name: string): number | undefined {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  return line === undefined ? undefined : Number(line.split(":")[2]);
}

/** CPU seconds of a set of processes between two readings: take() returns each one's use since the previous take(). */
export class CpuMeter {
  readonly #last = new Map<number, number>();

  /** Each pid's CPU seconds since the previous call (since 0 for a pid not seen before). */
  take(pids: readonly number[]): Map<number, number> {
    const used = new Map<number, number>();
    for (const pid of pids) {
      const now = processCpuSeconds(pid);
      used.set(pid, now - (this.#last.get(pid) ?? 0));
      this.#last.set(pid, now);
    }
    return used;
  }
}

/** CPU seconds the whole machine has been busy (every core, every process: /proc/stat's user, nice, system, irq, softirq, steal) so far. */
export function machineBusySeconds(): number {
  const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = [0, 1, 2, 5, 6, 7].reduce((sum, field) => sum + (ticks[field] ?? 0), 0); // 3 idle and 4 iowait left out
  return busy / TICKS_PER_SECOND;
}
