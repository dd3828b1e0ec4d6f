// Starting, stopping and talking to `reflens server`.

import * as childProcess from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
import * as readline from 'readline';

import { binaryCandidates, Candidate, findServer, judgeVersion, ProbeResult, RunResult } from './binary';
import { parseServerLogLine } from './reports';
import { configurationAnswer, didChangeConfigurationParams, toServerSettings } from './settings';
import { LiveOutput, LiveState } from './status';

const PROBE_TIMEOUT_SECONDS = 10;

/** The `reflens.*` settings, as the server wants them. */
export function currentServerSettings(scope?: vscode.ConfigurationScope) {
  const config = vscode.workspace.getConfiguration('reflens', scope);
  return toServerSettings((key) => config.get(key));
}

/** Runs `<binary> --version` (and makes a bundled binary executable if unzipping lost its mode). */
export async function probeBinary(candidate: Candidate): Promise<ProbeResult> {
  if (candidate.source === 'bundled') {
    try {
      fs.accessSync(candidate.path, fs.constants.X_OK);
    } catch {
      try {
        fs.chmodSync(candidate.path, 0o755);
      } catch {
        // Reported below as "not executable".
      }
    }
  }
  const result = await new Promise<RunResult>((resolve) => {
    childProcess.execFile(
      candidate.path,
      ['--version'],
      { timeout: PROBE_TIMEOUT_SECONDS * 1000, windowsHide: true },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ exitCode: 0, stdout: String(stdout), stderr: String(stderr) });
          return;
        }
        const e = error as childProcess.ExecFileException & { code?: string | number; killed?: boolean };
        if (typeof e.code === 'string') {
          resolve({ errorCode: e.code, errorMessage: e.message, exitCode: null, stdout: '', stderr: '' });
        } else if (e.killed && e.signal === 'SIGTERM') {
          resolve({ errorCode: 'ETIMEDOUT', exitCode: null, stdout: '', stderr: '' });
        } else {
          resolve({
            exitCode: typeof e.code === 'number' ? e.code : null,
            signal: e.signal ?? null,
            stdout: String(stdout),
            stderr: String(stderr),
          });
        }
      },
    );
  });
  return judgeVersion(result, PROBE_TIMEOUT_SECONDS);
}

/** The trace channel languageclient writes `reflens.trace.server` messages to: the server log,
 *  with a log level that follows the setting (languageclient traces only at level Trace). */
class TraceChannel implements vscode.LogOutputChannel {
  private readonly changed = new vscode.EventEmitter<vscode.LogLevel>();
  private readonly listener: vscode.Disposable;
  readonly onDidChangeLogLevel = this.changed.event;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.listener = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('reflens.trace.server')) {
        this.changed.fire(this.logLevel);
      }
    });
  }

  get name(): string {
    return this.log.name;
  }

  get logLevel(): vscode.LogLevel {
    const setting = vscode.workspace.getConfiguration('reflens').get<string>('trace.server', 'off');
    return setting === 'off' ? this.log.logLevel : vscode.LogLevel.Trace;
  }

  trace(message: string, ...args: unknown[]): void {
    this.log.info(`[trace] ${message}`, ...args);
  }
  debug(message: string, ...args: unknown[]): void {
    this.log.debug(message, ...args);
  }
  info(message: string, ...args: unknown[]): void {
    this.log.info(message, ...args);
  }
  warn(message: string, ...args: unknown[]): void {
    this.log.warn(message, ...args);
  }
  error(error: string | Error, ...args: unknown[]): void {
    this.log.error(error, ...args);
  }
  append(value: string): void {
    this.log.append(value);
  }
  appendLine(value: string): void {
    this.log.appendLine(value);
  }
  replace(value: string): void {
    this.log.replace(value);
  }
  clear(): void {
    this.log.clear();
  }
  show(columnOrPreserve?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
    if (typeof columnOrPreserve === 'boolean') {
      this.log.show(columnOrPreserve);
    } else {
      this.log.show(columnOrPreserve, preserveFocus);
    }
  }
  hide(): void {
    this.log.hide();
  }
  dispose(): void {
    this.listener.dispose();
    this.changed.dispose();
  }
}

export interface ServerEvents {
  onLiveState(state: LiveState): void;
  onLiveOutput(output: LiveOutput): void;
  /** The server (re)started or stopped: sessions of an old server are gone. */
  onServerChanged(running: boolean, problem?: string): void;
}

export class ServerManager implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  private readonly trace: TraceChannel;
  private client: LanguageClient | undefined;
  private binary: string | undefined;
  private starting: Promise<void> | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly events: ServerEvents,
  ) {
    this.log = vscode.window.createOutputChannel('reflens', { log: true });
    this.trace = new TraceChannel(this.log);
    this.disposables.push(this.log, this.trace);
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('reflens.path')) {
          this.log.info('reflens.path changed: restarting the server');
          void this.restart();
        }
      }),
    );
  }

  /** The binary the running server was started from. */
  get binaryPath(): string | undefined {
    return this.binary;
  }

  get running(): boolean {
    return this.client !== undefined && this.client.state === State.Running;
  }

  get languageClient(): LanguageClient | undefined {
    return this.client;
  }

  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const candidates = binaryCandidates(
      {
        setting: vscode.workspace.getConfiguration('reflens').get<string>('path'),
        bundledDir: this.context.asAbsolutePath('bin'),
        envPath: process.env.PATH,
        home: os.homedir(),
        workspaceFolder: folder,
        isFile: (file) => {
          try {
            return fs.statSync(file).isFile();
          } catch {
            return false;
          }
        },
      },
      process.env,
    );
    const found = await findServer(candidates, probeBinary);
    if (!found.ok) {
      this.log.error(found.message);
      for (const t of found.tried) {
        this.log.error(`  tried ${t.candidate.source}: ${t.candidate.path}: ${t.reason}`);
      }
      this.events.onServerChanged(false, found.message);
      void this.reportMissingBinary(found.message);
      return;
    }
    for (const skipped of found.skipped) {
      this.log.warn(`skipping ${skipped.candidate.source} binary ${skipped.candidate.path}: ${skipped.reason}`);
    }
    this.binary = found.candidate.path;
    this.log.info(`starting ${found.candidate.path} server (reflens ${found.version}, ${found.candidate.source})`);

    const serverOptions: ServerOptions = {
      command: found.candidate.path,
      args: ['server'],
      options: { env: { ...process.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'python' },
        { scheme: 'untitled', language: 'python' },
      ],
      outputChannel: this.log,
      traceOutputChannel: this.trace,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => currentServerSettings(),
      synchronize: { configurationSection: 'reflens' },
      markdown: { isTrusted: false, supportHtml: false },
      stdioOptions: {
        stdout: (input, channel) => {
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (l) => channel.info(l));
        },
        stderr: (input, channel) => {
          readline
            .createInterface({ input, crlfDelay: Infinity, terminal: false })
            .on('line', (line) => {
              const { level, message } = parseServerLogLine(line);
              channel[level](message);
            });
        },
      },
      middleware: {
        workspace: {
          // The server asks for the `reflens` section: answer in its shape (an empty `select`
          // left out, `live.python` only when set).
          configuration: async (params, token, next) => {
            const answers = await next(params, token);
            if (!Array.isArray(answers)) {
              return answers;
            }
            return params.items.map((item, i) => {
              const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
              return configurationAnswer(item.section, currentServerSettings(scope), answers[i]);
            });
          },
          // Pushed on every change of `reflens.*`, in the server's shape.
          didChangeConfiguration: async (_sections, _next) => {
            const client = this.client;
            if (client && client.state === State.Running) {
              await client.sendNotification('workspace/didChangeConfiguration', didChangeConfigurationParams(currentServerSettings()));
            }
          },
        },
      },
    };
    const client = new LanguageClient('reflens', 'reflens', serverOptions, clientOptions);
    client.onNotification('reflens/liveState', (state: LiveState) => this.events.onLiveState(state));
    client.onNotification('reflens/liveOutput', (output: LiveOutput) => this.events.onLiveOutput(output));
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped) {
        this.events.onServerChanged(false);
      } else if (e.newState === State.Running) {
        this.events.onServerChanged(true);
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      const message = `reflens: the language server ${found.candidate.path} did not start: ${errorText(error)}`;
      this.log.error(message);
      this.client = undefined;
      this.events.onServerChanged(false, message);
      void vscode.window.showErrorMessage(message, 'Show Log').then((choice) => {
        if (choice === 'Show Log') {
          this.log.show();
        }
      });
    }
  }

  private async reportMissingBinary(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, 'Open Setting', 'Show Log');
    if (choice === 'Open Setting') {
      await openPathSetting();
    } else if (choice === 'Show Log') {
      this.log.show();
    }
  }

  async stop(): Promise<void> {
    if (this.starting) {
      await this.starting.catch(() => undefined);
    }
    const client = this.client;
    this.client = undefined;
    this.binary = undefined;
    if (client) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.log.warn(`stopping the server: ${errorText(error)}`);
      }
      try {
        await client.dispose();
      } catch {
        // Already gone.
      }
    }
    this.events.onServerChanged(false);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Runs a server command (`workspace/executeCommand`); throws an `Error` with the server's
   *  message. */
  async execute<T>(command: string, argument: unknown = {}): Promise<T> {
    if (this.starting) {
      await this.starting;
    }
    const client = this.client;
    if (!client || client.state !== State.Running) {
      throw new Error('the reflens language server is not running (see the "reflens" output channel)');
    }
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] })) as T;
    } catch (error) {
      throw new Error(errorText(error), { cause: error });
    }
  }

  /** A document URI as the server knows it. */
  uriOf(uri: vscode.Uri): string {
    return this.client ? this.client.code2ProtocolConverter.asUri(uri) : uri.toString();
  }

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

/** Opens the Settings editor at `reflens.path`, on the tab where it is set: the workspace's, or
 *  the user's (in a remote window such as code-server, the remote machine's: a machine-scoped
 *  setting is not read from the local user settings there). */
export async function openPathSetting(): Promise<void> {
  const inspected = vscode.workspace.getConfiguration('reflens').inspect<string>('path');
  const query = { query: 'reflens.path' };
  if (inspected?.workspaceFolderValue || inspected?.workspaceValue) {
    await vscode.commands.executeCommand('workbench.action.openWorkspaceSettings', query);
  } else if (vscode.env.remoteName) {
    await vscode.commands.executeCommand('workbench.action.openRemoteSettings', query);
  } else {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'reflens.path');
  }
}

export function errorText(error: unknown): string {
  if (error instanceof ResponseError) {
    return error.message;
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
