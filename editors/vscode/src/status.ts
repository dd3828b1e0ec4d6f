// Live-session state (`reflens/liveState`) as the status bar shows it. No `vscode` import.

export type SessionState = 'starting' | 'ready' | 'running' | 'paused' | 'finished' | 'exited' | 'crashed';

/** `reflens/liveState` params (`LiveStateParams` in server/reflens/src/live/mod.rs). */
export interface LiveState {
  session: number;
  root: string;
  state: SessionState;
  target?: string | null;
  pid?: number | null;
  python?: string | null;
  /** Where a paused program stopped; `line` is 0-based. */
  location?: { uri: string; line: number; function: string } | null;
  detail?: string | null;
  log: string;
}

/** `reflens/liveOutput` params. */
export interface LiveOutput {
  session: number;
  text: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** The command a click runs. */
  command: string;
  /** A warning or error background. */
  tone?: 'warning' | 'error';
}

export const COMMANDS = {
  start: 'reflens.startLiveSession',
  stop: 'reflens.stopLiveSession',
  continue: 'reflens.continue',
  output: 'reflens.showProgramOutput',
} as const;

/** The last path component of a file URI or path. */
export function baseName(uriOrPath: string): string {
  const clean = uriOrPath.replace(/[?#].*$/, '').replace(/\/+$/, '');
  const last = clean.slice(clean.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** A target as short as a person would say it (`app.py`, `shop.jobs:run`). */
export function shortTarget(target: string | null | undefined): string {
  if (!target) {
    return '';
  }
  if (target.includes('::')) {
    const [file, ...rest] = target.split('::');
    return [baseName(file), ...rest].join('::');
  }
  if (target.startsWith('/')) {
    const colon = target.lastIndexOf(':');
    if (colon > 0 && !target.slice(colon + 1).includes('/')) {
      return `${baseName(target.slice(0, colon))}:${target.slice(colon + 1)}`;
    }
    return baseName(target);
  }
  return target;
}

function firstLine(text: string | null | undefined): string {
  return (text ?? '').split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}

/** The status bar item for a session state (`undefined`: no session). */
export function statusFor(state: LiveState | undefined): StatusView {
  if (state === undefined) {
    return {
      text: '$(pulse) reflens',
      tooltip: 'reflens: no live session. Click to start one (runs your program).',
      command: COMMANDS.start,
    };
  }
  const target = shortTarget(state.target);
  const what = target ? ` ${target}` : '';
  const pid = state.pid ? ` (pid ${state.pid})` : '';
  const detail = firstLine(state.detail);
  const more = detail ? `\n${detail}` : '';
  switch (state.state) {
    case 'starting':
      return {
        text: '$(loading~spin) reflens: starting',
        tooltip: `reflens: starting a live session${what}${more}\nClick to stop it.`,
        command: COMMANDS.stop,
      };
    case 'ready':
      return {
        text: '$(debug-start) reflens: ready',
        tooltip: `reflens: the live session is ready${what}${pid}${more}\nClick to stop it.`,
        command: COMMANDS.stop,
      };
    case 'running':
      return {
        text: `$(sync~spin) reflens: running${what}`,
        tooltip: `reflens: running${what}${pid}${more}\nHover a name for live facts. Click to stop the program.`,
        command: COMMANDS.stop,
      };
    case 'paused': {
      const at = state.location
        ? `${baseName(state.location.uri)}:${state.location.line + 1}`
        : 'a probe';
      const fn = state.location?.function ? ` in ${state.location.function}` : '';
      return {
        text: `$(debug-pause) reflens: paused at ${at}`,
        tooltip: `reflens: ${target || 'the program'} is paused${fn} at ${at}${pid}\nHover a name for its live facts. Click to continue.`,
        command: COMMANDS.continue,
        tone: 'warning',
      };
    }
    case 'finished':
      return {
        text: `$(pass) reflens: finished${what}`,
        tooltip: `reflens: ${target || 'the program'} finished${more}\nIts globals can still be inspected: hover a module-level name. Click to end the session.`,
        command: COMMANDS.stop,
      };
    case 'exited':
      return {
        text: '$(circle-slash) reflens: exited',
        tooltip: `reflens: the live session ended${what}${more}\nClick to start a new one.`,
        command: COMMANDS.start,
      };
    case 'crashed':
      return {
        text: '$(error) reflens: crashed',
        tooltip: `reflens: the program crashed${what}${more}\nClick to see its output.`,
        command: COMMANDS.output,
        tone: 'error',
      };
    default:
      return {
        text: '$(pulse) reflens',
        tooltip: `reflens: live session in state ${String(state.state)}`,
        command: COMMANDS.stop,
      };
  }
}

/** Whether the session can still answer questions (not exited or crashed). */
export function isAlive(state: LiveState | undefined): boolean {
  return state !== undefined && state.state !== 'exited' && state.state !== 'crashed';
}

/** A line for the program output channel when a session changes state. */
export function stateLogLine(state: LiveState): string | undefined {
  const target = state.target ?? '';
  switch (state.state) {
    case 'starting':
      return `── session ${state.session}: starting${target ? ` ${target}` : ''} ──`;
    case 'ready':
      return `── session ${state.session}: ${firstLine(state.detail) || 'ready'}${state.pid ? `, pid ${state.pid}` : ''} ──`;
    case 'running':
      return undefined;
    case 'paused':
      return state.location
        ? `── paused at ${baseName(state.location.uri)}:${state.location.line + 1} in ${state.location.function} ──`
        : '── paused ──';
    case 'finished':
    case 'exited':
    case 'crashed': {
      const detail = (state.detail ?? '').trim();
      return `── session ${state.session} ${state.state}${detail ? `: ${detail}` : ''} (full log: ${state.log}) ──`;
    }
    default:
      return undefined;
  }
}
