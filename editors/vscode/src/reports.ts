// Readable Markdown for the live reports (`reflens.live.garbage`, `reflens.live.growth`) and
// the small text helpers the commands use. No `vscode` import.

import { bytes, ChainStep } from './graph';

/** `GarbageReport` in server/reflens_protocol/src/lib.rs. */
export interface GarbageReport {
  unreachable: number;
  by_type: Array<[string, number]>;
  cycles: Array<{ members: string[]; size: number; has_finalizer: boolean }>;
  with_finalizers: string[];
}

/** `GrowthReport`. */
export interface GrowthReport {
  target: string;
  iterations: number;
  types: Array<{ type: string; counts: number[]; per_call: number; gc_tracked: boolean }>;
  sites: Array<{ file: string; line: number; type: string; per_call: number }>;
  retainers: Array<{ description: string; chain: ChainStep[]; new_objects: number }>;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function code(text: string): string {
  const clean = text.replace(/\r?\n/g, ' ');
  const fence = clean.includes('`') ? '``' : '`';
  return `${fence}${clean.includes('`') ? ' ' : ''}${clean}${clean.includes('`') ? ' ' : ''}${fence}`;
}

export function garbageMarkdown(report: GarbageReport, when: string): string {
  const out: string[] = [];
  out.push('# reflens: garbage report', '');
  out.push(`*${when}*`, '');
  if (!report.unreachable) {
    out.push('`gc.collect()` found **nothing unreachable**: every object that is still alive is reachable from a module, a frame or a thread.', '');
    return out.join('\n');
  }
  out.push(
    `\`gc.collect()\` found **${report.unreachable}** unreachable object${report.unreachable === 1 ? '' : 's'} ` +
      `in **${report.cycles.length}** reference cycle${report.cycles.length === 1 ? '' : 's'}. ` +
      'Without the cyclic collector (or with it disabled) they would stay in memory.',
    '',
  );
  if (report.by_type.length > 0) {
    out.push('## By type', '', '| type | objects |', '|---|---:|');
    for (const [type, count] of report.by_type) {
      out.push(`| ${code(cell(type))} | ${count} |`);
    }
    out.push('');
  }
  if (report.cycles.length > 0) {
    out.push('## Cycles', '');
    report.cycles.forEach((cycle, i) => {
      out.push(
        `### Cycle ${i + 1}: ${cycle.size} object${cycle.size === 1 ? '' : 's'}${cycle.has_finalizer ? ' — **has a finalizer**' : ''}`,
        '',
      );
      for (const member of cycle.members) {
        out.push(`- ${code(member)}`);
      }
      if (cycle.size > cycle.members.length) {
        out.push(`- … and ${cycle.size - cycle.members.length} more`);
      }
      out.push('');
    });
  }
  if (report.with_finalizers.length > 0) {
    out.push('## With finalizers', '', 'These define `__del__` or are registered with `weakref.finalize`:', '');
    for (const item of report.with_finalizers) {
      out.push(`- ${code(item)}`);
    }
    out.push('');
  }
  out.push('Break a cycle with `weakref.ref`/`weakref.proxy` for the back-reference, or replace `__del__` with `weakref.finalize`.', '');
  return out.join('\n');
}

export function growthMarkdown(report: GrowthReport, when: string): string {
  const out: string[] = [];
  out.push(`# reflens: growth of \`${report.target}\``, '');
  out.push(`*${when}; one warm-up call, then ${report.iterations} measured calls*`, '');
  if (report.types.length === 0) {
    out.push('**Nothing grows** on every call: no type has more live objects after each call than before.', '');
    return out.join('\n');
  }
  out.push('## Types that grow on every call', '', '| type | per call | live count after each call | tracked by gc |', '|---|---:|---|---|');
  for (const t of report.types) {
    out.push(`| ${code(cell(t.type))} | +${t.per_call} | ${t.counts.join(' → ')} | ${t.gc_tracked ? 'yes' : 'no'} |`);
  }
  out.push('');
  if (report.sites.length > 0) {
    out.push('## Where the new objects were allocated', '', '| place | type | per call |', '|---|---|---:|');
    for (const s of report.sites) {
      out.push(`| [${cell(baseName(s.file))}:${s.line}](${fileLink(s.file, s.line)}) | ${code(cell(s.type))} | ${s.per_call} |`);
    }
    out.push('', 'These lines also carry a *growth* diagnostic in the editor.', '');
  }
  if (report.retainers.length > 0) {
    out.push('## What keeps them alive', '');
    for (const r of report.retainers) {
      const chain = r.chain.length > 0 ? ` (${r.chain.map((s) => s.description).join(' → ')})` : '';
      out.push(`- **${cell(r.description)}** holds ${r.new_objects} of the last call's new objects${chain}`);
    }
    out.push('');
  }
  return out.join('\n');
}

export function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1);
}

/** A `file://` link to a line (the Markdown preview opens it in an editor). */
export function fileLink(file: string, line: number): string {
  return `${encodeURI(`file://${file}`).replace(/#/g, '%23')}#L${line}`;
}

/** The function (or method) whose body contains `line` (0-based), from indentation alone. */
export function enclosingFunction(lines: string[], line: number): string | undefined {
  const indentOf = (text: string) => text.length - text.trimStart().length;
  let limit = Number.POSITIVE_INFINITY;
  const current = lines[line] ?? '';
  if (current.trim().length > 0) {
    const here = /^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)/.exec(current);
    if (here) {
      return here[1];
    }
    limit = indentOf(current);
  }
  const classes: string[] = [];
  let found: string | undefined;
  for (let i = Math.min(line, lines.length - 1); i >= 0; i -= 1) {
    const text = lines[i];
    if (text.trim().length === 0 || text.trimStart().startsWith('#')) {
      continue;
    }
    const indent = indentOf(text);
    if (indent >= limit) {
      continue;
    }
    limit = indent;
    const def = /^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)/.exec(text);
    const cls = /^\s*class\s+([A-Za-z_]\w*)/.exec(text);
    if (def && found === undefined) {
      found = def[1];
    } else if (cls && found !== undefined) {
      classes.unshift(cls[1]);
    } else if (def && found !== undefined) {
      // A function nested in another: growth calls the outer one.
      found = def[1];
      classes.length = 0;
    }
    if (indent === 0) {
      break;
    }
  }
  if (found === undefined) {
    return undefined;
  }
  return classes.length > 0 ? undefined : found;
}

/** `path/to/file.py:function` for the growth prompt, when the cursor is in a top-level function. */
export function growthTargetFor(file: string, lines: string[], line: number): string | undefined {
  const fn = enclosingFunction(lines, line);
  return fn ? `${file}:${fn}` : undefined;
}

/** Checks what the user typed for growth: `module:function` or `file.py:function`. */
export function validateGrowthTarget(text: string): string | undefined {
  const value = text.trim();
  const colon = value.lastIndexOf(':');
  if (colon <= 0 || colon === value.length - 1) {
    return 'Give `module:function` (e.g. `shop.jobs:handle_order`) or `path/to/file.py:function`.';
  }
  const fn = value.slice(colon + 1);
  if (!/^[A-Za-z_][\w.]*$/.test(fn)) {
    return `\`${fn}\` is not a function name.`;
  }
  return undefined;
}

export function validateIterations(text: string): string | undefined {
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value < 2 || value > 1000) {
    return 'A whole number from 2 to 1000.';
  }
  return undefined;
}

// ---- attach: endpoint files ----------------------------------------------------------------

export interface Endpoint {
  pid: number;
  socket: string;
  argv: string[];
  python: string;
  file: string;
}

/** Where programs that called `reflens_agent.listen()` publish their endpoint files. */
export function endpointDirectory(env: Record<string, string | undefined>, tmpdir: string, uid: number, isDir: (d: string) => boolean): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isDir(runtime)) {
    return `${runtime.replace(/\/+$/, '')}/reflens`;
  }
  return `${tmpdir.replace(/\/+$/, '')}/reflens-${uid}`;
}

export function parseEndpoint(file: string, text: string): Endpoint | undefined {
  try {
    const value = JSON.parse(text) as Partial<Endpoint> & { pid?: unknown };
    if (typeof value.pid !== 'number' || typeof value.socket !== 'string') {
      return undefined;
    }
    return {
      pid: value.pid,
      socket: value.socket,
      argv: Array.isArray(value.argv) ? value.argv.filter((a): a is string => typeof a === 'string') : [],
      python: typeof value.python === 'string' ? value.python.split(' ')[0] : '',
      file,
    };
  } catch {
    return undefined;
  }
}

/** A pick item for an endpoint. */
export function endpointLabel(endpoint: Endpoint): { label: string; description: string } {
  const command = endpoint.argv.length > 0 ? endpoint.argv.join(' ') : '(unknown command)';
  return {
    label: `pid ${endpoint.pid}`,
    description: `${command}${endpoint.python ? ` · Python ${endpoint.python}` : ''}`,
  };
}

// ---- the server's log -----------------------------------------------------------------------

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** A line of the server's stderr (`tracing` format: `2025-01-01T00:00:00.123Z  INFO target: msg`)
 *  as a level and a message; lines without a level are `info`. */
export function parseServerLogLine(line: string): { level: LogLevel; message: string } {
  const match = /^\s*(?:\d{4}-\d{2}-\d{2}T\S+\s+)?(TRACE|DEBUG|INFO|WARN|ERROR)\s+(.*)$/.exec(line);
  if (!match) {
    return { level: 'info', message: line };
  }
  const level = match[1].toLowerCase() as LogLevel;
  return { level, message: match[2] };
}

/** Rule codes (`RL401`) from `reflens rule --all`'s table. */
export function ruleCodesFromTable(text: string): Array<{ code: string; name: string; summary: string }> {
  const rules: Array<{ code: string; name: string; summary: string }> = [];
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length >= 4 && /^RL\d{3}$/.test(cells[1])) {
      rules.push({ code: cells[1], name: cells[2].replace(/`/g, ''), summary: cells[3].replace(/`/g, '') });
    }
  }
  return rules;
}

export { bytes };
