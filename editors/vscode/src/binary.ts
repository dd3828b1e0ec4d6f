// Finding the `reflens` binary: the `reflens.path` setting, else the binary bundled in the
// extension (`bin/reflens`), else `reflens` on PATH. No `vscode` import: unit-tested in node.

import * as path from 'path';

export type BinarySource = 'setting' | 'bundled' | 'path';

export interface Candidate {
  path: string;
  source: BinarySource;
}

export interface LookupInput {
  /** The `reflens.path` setting, as the user wrote it. */
  setting: string | undefined;
  /** The extension's `bin/` directory. */
  bundledDir: string;
  /** `process.env.PATH`. */
  envPath: string | undefined;
  home: string;
  /** The first workspace folder, for relative paths and `${workspaceFolder}`. */
  workspaceFolder?: string;
  /** Whether a file exists (injected for tests). */
  isFile: (file: string) => boolean;
}

export const BINARY_NAME = process.platform === 'win32' ? 'reflens.exe' : 'reflens';

/** Expands `~`, `${userHome}`, `${workspaceFolder}` and `${env:NAME}`; resolves a relative path
 *  against the workspace folder. */
export function expandPath(
  raw: string,
  home: string,
  workspaceFolder?: string,
  env: Record<string, string | undefined> = {},
): string {
  let value = raw.trim();
  if (value === '~') {
    value = home;
  } else if (value.startsWith('~/')) {
    value = path.join(home, value.slice(2));
  }
  value = value
    .replace(/\$\{userHome\}/g, home)
    .replace(/\$\{env:([^}]+)\}/g, (_, name: string) => env[name] ?? '');
  if (workspaceFolder !== undefined) {
    value = value.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  if (!path.isAbsolute(value) && value.includes('/') && workspaceFolder !== undefined) {
    value = path.join(workspaceFolder, value);
  }
  return value;
}

/** The binaries to try, in order. An explicit setting is the only candidate: the user asked for
 *  that binary, and silently running another one would hide their mistake. */
export function binaryCandidates(input: LookupInput, env: Record<string, string | undefined> = {}): Candidate[] {
  const setting = input.setting?.trim();
  if (setting) {
    const expanded = expandPath(setting, input.home, input.workspaceFolder, env);
    // A bare name (`reflens`) is looked up on PATH like a shell would.
    if (!expanded.includes('/')) {
      const onPath = searchPath(expanded, input.envPath, input.isFile);
      return [{ path: onPath ?? expanded, source: 'setting' }];
    }
    return [{ path: expanded, source: 'setting' }];
  }
  const candidates: Candidate[] = [];
  const bundled = path.join(input.bundledDir, BINARY_NAME);
  if (input.isFile(bundled)) {
    candidates.push({ path: bundled, source: 'bundled' });
  }
  const onPath = searchPath(BINARY_NAME, input.envPath, input.isFile);
  if (onPath !== undefined) {
    candidates.push({ path: onPath, source: 'path' });
  }
  return candidates;
}

/** The first `name` in the directories of `envPath`. */
export function searchPath(
  name: string,
  envPath: string | undefined,
  isFile: (file: string) => boolean,
): string | undefined {
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    const candidate = path.join(dir, name);
    if (isFile(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/** What running `<binary> --version` gave. */
export interface RunResult {
  /** A spawn error's code (`ENOENT`, `EACCES`, …), or `ETIMEDOUT` for a timeout. */
  errorCode?: string;
  errorMessage?: string;
  exitCode: number | null;
  signal?: string | null;
  stdout: string;
  stderr: string;
}

export type ProbeResult = { ok: true; version: string } | { ok: false; reason: string };

/** Judges the output of `<binary> --version`. */
export function judgeVersion(result: RunResult, timeoutSeconds = 10): ProbeResult {
  switch (result.errorCode) {
    case undefined:
      break;
    case 'ENOENT':
      return { ok: false, reason: 'no such file' };
    case 'EACCES':
    case 'EPERM':
      return { ok: false, reason: 'not executable (permission denied)' };
    case 'ENOEXEC':
      return { ok: false, reason: 'not a program this machine can run' };
    case 'ETIMEDOUT':
      return { ok: false, reason: `\`--version\` did not answer within ${timeoutSeconds} s` };
    default:
      return { ok: false, reason: result.errorMessage ?? result.errorCode };
  }
  if (result.signal) {
    return { ok: false, reason: `\`--version\` was killed by ${result.signal}` };
  }
  if (result.exitCode !== 0) {
    const why = firstLine(result.stderr) || firstLine(result.stdout);
    return {
      ok: false,
      reason: `\`--version\` exited with status ${result.exitCode}${why ? `: ${why}` : ''}`,
    };
  }
  const line = firstLine(result.stdout);
  const match = /^reflens\s+(\S+)/.exec(line);
  if (!match) {
    return { ok: false, reason: `\`--version\` printed "${line.slice(0, 80)}": not a reflens binary` };
  }
  return { ok: true, version: match[1] };
}

function firstLine(text: string): string {
  return text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}

export interface Found {
  ok: true;
  candidate: Candidate;
  version: string;
  /** Candidates tried before it that did not work (told in the log). */
  skipped: Array<{ candidate: Candidate; reason: string }>;
}

export interface NotFound {
  ok: false;
  /** One message for the user: what is wrong and what to do. */
  message: string;
  tried: Array<{ candidate: Candidate; reason: string }>;
}

/** Tries the candidates in order; the first that answers `--version` wins. */
export async function findServer(
  candidates: Candidate[],
  probe: (candidate: Candidate) => Promise<ProbeResult>,
): Promise<Found | NotFound> {
  const tried: Array<{ candidate: Candidate; reason: string }> = [];
  for (const candidate of candidates) {
    const result = await probe(candidate);
    if (result.ok) {
      return { ok: true, candidate, version: result.version, skipped: tried };
    }
    tried.push({ candidate, reason: result.reason });
  }
  return { ok: false, message: failureMessage(tried), tried };
}

const HOW_TO_GET =
  'Build it with `cargo build --release` in the reflens repository (it makes target/release/reflens) ' +
  'or install a reflens binary, then set `reflens.path` to it or put it on PATH.';

/** The one error message shown when no binary works. */
export function failureMessage(tried: Array<{ candidate: Candidate; reason: string }>): string {
  const setting = tried.find((t) => t.candidate.source === 'setting');
  if (setting) {
    return (
      `reflens: the language server set in \`reflens.path\` (${setting.candidate.path}) cannot run: ` +
      `${setting.reason}. Point \`reflens.path\` at a working reflens binary, or clear it to use the bundled one.`
    );
  }
  if (tried.length === 0) {
    return `reflens: no language server binary found (none bundled with the extension, no \`reflens\` on PATH). ${HOW_TO_GET}`;
  }
  const list = tried
    .map((t) => `${t.candidate.source === 'bundled' ? 'the bundled binary' : t.candidate.path} (${t.reason})`)
    .join('; ');
  return `reflens: no working language server binary: ${list}. ${HOW_TO_GET}`;
}
