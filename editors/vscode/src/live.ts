// The palette commands, the status bar item and the program's output channel.

import * as childProcess from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';

import { ObjectFacts } from './graph';
import {
  endpointDirectory,
  endpointLabel,
  garbageMarkdown,
  GarbageReport,
  growthMarkdown,
  GrowthReport,
  growthTargetFor,
  parseEndpoint,
  ruleCodesFromTable,
  validateGrowthTarget,
  validateIterations,
} from './reports';
import { errorText, ServerManager } from './server';
import { baseName, isAlive, LiveOutput, LiveState, stateLogLine, statusFor } from './status';
import { DocumentStore, GraphPanel } from './views';

/** How long the server may hold the program's output before sending it (`forward_output` in
 *  server/reflens/src/live/session.rs batches it every 200 ms), plus a margin. */
const OUTPUT_BATCH_MS = 300;

export class Live implements vscode.Disposable {
  readonly program: vscode.OutputChannel;
  private readonly status: vscode.StatusBarItem;
  private state: LiveState | undefined;
  private serverProblem: string | undefined;
  /** Whether the program channel's last write ended a line. */
  private atLineStart = true;
  private readonly disposables: vscode.Disposable[] = [];
  server!: ServerManager;

  constructor(
    private readonly docs: DocumentStore,
    private readonly graph: GraphPanel,
  ) {
    this.program = vscode.window.createOutputChannel('reflens: program');
    this.status = vscode.window.createStatusBarItem('reflens.status', vscode.StatusBarAlignment.Left, 10);
    this.status.name = 'reflens live session';
    this.disposables.push(this.program, this.status);
    this.disposables.push(vscode.window.onDidChangeActiveTextEditor(() => this.render()));
    this.render();
  }

  // ---- events from the server ---------------------------------------------------------------

  onLiveState(state: LiveState): void {
    if (this.state === undefined || state.session >= this.state.session) {
      this.state = state;
    }
    const line = stateLogLine(state);
    if (line) {
      // The server batches the program's output (up to 200 ms), so the last lines a program
      // printed can arrive after the state change that follows them: end lines wait that long.
      if (state.state === 'starting' || state.state === 'ready') {
        this.writeStateLine(line);
      } else {
        setTimeout(() => this.writeStateLine(line), OUTPUT_BATCH_MS);
      }
    }
    if (state.state === 'crashed') {
      void vscode.window
        .showWarningMessage(`reflens: the live session's program crashed${state.detail ? `: ${firstLine(state.detail)}` : ''}`, 'Show Output')
        .then((choice) => {
          if (choice) {
            this.program.show(true);
          }
        });
    }
    void vscode.commands.executeCommand('setContext', 'reflens.sessionState', state.state);
    this.render();
  }

  onLiveOutput(output: LiveOutput): void {
    if (output.text) {
      this.program.append(output.text);
      this.atLineStart = output.text.endsWith('\n');
    }
  }

  /** A session line, on a line of its own even when the program's output did not end one. */
  private writeStateLine(line: string): void {
    if (!this.atLineStart) {
      this.program.append('\n');
    }
    this.program.appendLine(line);
    this.atLineStart = true;
  }

  onServerChanged(running: boolean, problem?: string): void {
    this.serverProblem = running ? undefined : problem;
    if (!running) {
      this.state = undefined;
      void vscode.commands.executeCommand('setContext', 'reflens.sessionState', undefined);
    }
    this.render();
  }

  private render(): void {
    if (this.serverProblem) {
      this.status.text = '$(error) reflens';
      this.status.tooltip = this.serverProblem;
      this.status.command = 'reflens.showServerLog';
      this.status.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
      this.status.show();
      return;
    }
    const view = statusFor(this.state);
    this.status.text = view.text;
    this.status.tooltip = view.tooltip;
    this.status.command = view.command;
    this.status.backgroundColor =
      view.tone === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.tone === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
    const python = vscode.window.activeTextEditor?.document.languageId === 'python';
    if (python || isAlive(this.state)) {
      this.status.show();
    } else {
      this.status.hide();
    }
  }

  // ---- commands -----------------------------------------------------------------------------

  register(context: vscode.ExtensionContext): void {
    const command = (id: string, run: (...args: unknown[]) => Promise<unknown>) =>
      context.subscriptions.push(
        vscode.commands.registerCommand(id, async (...args: unknown[]) => {
          try {
            return await run(...args);
          } catch (error) {
            void vscode.window.showErrorMessage(`reflens: ${errorText(error)}`);
            return undefined;
          }
        }),
      );
    command('reflens.startLiveSession', (arg) => this.start(arg));
    command('reflens.stopLiveSession', () => this.stop());
    command('reflens.runToLine', (arg) => this.runToLine(arg));
    command('reflens.continue', () => this.continue());
    command('reflens.findGrowth', () => this.growth());
    command('reflens.garbageReport', () => this.garbage());
    command('reflens.attach', () => this.attach());
    command('reflens.showRuleDocumentation', (arg) => this.ruleDocs(arg));
    command('reflens.showReferenceGraph', () => this.referenceGraph());
    command('reflens.showProgramOutput', async () => this.program.show(true));
  }

  private sessionArgument(): Record<string, unknown> {
    return this.state && isAlive(this.state) ? { session: this.state.session } : {};
  }

  async start(arg?: unknown): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const document = editor?.document;
    const folder =
      (document && vscode.workspace.getWorkspaceFolder(document.uri)) ?? vscode.workspace.workspaceFolders?.[0];
    let suggestion = '';
    if (document && document.languageId === 'python' && document.uri.scheme === 'file') {
      suggestion = folder ? path.relative(folder.uri.fsPath, document.uri.fsPath) : document.uri.fsPath;
      if (suggestion.startsWith('..')) {
        suggestion = document.uri.fsPath;
      }
    }
    let target = typeof arg === 'string' ? arg : (arg as { target?: string } | undefined)?.target;
    if (!target) {
      target = await vscode.window.showInputBox({
        title: 'reflens: Start Live Session',
        prompt: 'What to run in a new Python process: a script, module:function, -m package, or tests/test_x.py::test_y',
        placeHolder: 'app.py',
        value: suggestion,
        ignoreFocusOut: true,
        validateInput: (text) => (text.trim() ? undefined : 'Give a script, module:function, -m package or a pytest node id.'),
      });
    }
    if (!target) {
      return;
    }
    if (document?.isDirty && document.languageId === 'python') {
      await document.save();
    }
    const argument: Record<string, unknown> = { target: target.trim() };
    if (folder) {
      argument.cwd = folder.uri.fsPath;
      argument.root = folder.uri.fsPath;
    }
    this.writeStateLine(`── starting ${target.trim()} ──`);
    await this.server.execute('reflens.live.start', argument);
  }

  async stop(): Promise<void> {
    if (!this.state || !isAlive(this.state)) {
      void vscode.window.showInformationMessage('reflens: no live session is running.');
      return;
    }
    await this.server.execute('reflens.live.stop', this.sessionArgument());
  }

  async continue(): Promise<void> {
    await this.server.execute('reflens.live.continue', this.sessionArgument());
  }

  async runToLine(arg?: unknown): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    let uri = editor?.document.uri;
    let line = editor?.selection.active.line;
    if (arg instanceof vscode.Uri) {
      uri = arg;
    } else if (arg && typeof arg === 'object' && 'line' in arg) {
      line = Number((arg as { line: unknown }).line);
    }
    if (!uri || line === undefined || !editor) {
      throw new Error('open a Python file and put the cursor on the line to pause before');
    }
    if (editor.document.isDirty) {
      await editor.document.save();
    }
    await this.server.execute('reflens.live.runToLine', { uri: this.server.uriOf(uri), line });
  }

  async growth(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const document = editor?.document;
    const folder =
      (document && vscode.workspace.getWorkspaceFolder(document.uri)) ?? vscode.workspace.workspaceFolders?.[0];
    let suggestion: string | undefined;
    if (document && document.languageId === 'python' && document.uri.scheme === 'file' && editor) {
      const file = folder ? path.relative(folder.uri.fsPath, document.uri.fsPath) : document.uri.fsPath;
      const lines = document.getText().split(/\r?\n/);
      suggestion = growthTargetFor(file, lines, editor.selection.active.line);
    }
    const target = await vscode.window.showInputBox({
      title: 'reflens: Find Growth (1/2)',
      prompt: 'The function to call repeatedly (with no arguments): module:function or path/to/file.py:function',
      placeHolder: 'shop.jobs:handle_order',
      value: suggestion ?? '',
      ignoreFocusOut: true,
      validateInput: validateGrowthTarget,
    });
    if (!target) {
      return;
    }
    const iterations = await vscode.window.showInputBox({
      title: 'reflens: Find Growth (2/2)',
      prompt: 'How many calls to measure (after one warm-up call)',
      value: '5',
      ignoreFocusOut: true,
      validateInput: validateIterations,
    });
    if (!iterations) {
      return;
    }
    const argument: Record<string, unknown> = { target: target.trim(), iterations: Number(iterations) };
    if (folder) {
      argument.root = folder.uri.fsPath;
    }
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `reflens: calling ${target.trim()} ${iterations} times…` },
      () => this.server.execute<GrowthReport>('reflens.live.growth', argument),
    );
    await this.docs.show(`growth ${baseName(target.trim()).replace(/[^\w.-]+/g, '_')}`, growthMarkdown(report, new Date().toLocaleString()));
  }

  async garbage(): Promise<void> {
    const report = await this.server.execute<GarbageReport>('reflens.live.garbage', this.sessionArgument());
    const what = this.state?.target ? `${this.state.target}, ` : '';
    await this.docs.show('garbage report', garbageMarkdown(report, `${what}${new Date().toLocaleString()}`));
  }

  async attach(): Promise<void> {
    const directory = endpointDirectory(process.env, os.tmpdir(), process.getuid?.() ?? 0, (d) => {
      try {
        return fs.statSync(d).isDirectory();
      } catch {
        return false;
      }
    });
    type Item = vscode.QuickPickItem & { endpoint?: string; manual?: boolean };
    const items: Item[] = [];
    let entries: string[];
    try {
      entries = fs.readdirSync(directory).filter((name) => name.endsWith('.json'));
    } catch {
      entries = [];
    }
    for (const name of entries) {
      const file = path.join(directory, name);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const endpoint = parseEndpoint(file, text);
      if (!endpoint || !processAlive(endpoint.pid)) {
        continue;
      }
      items.push({ ...endpointLabel(endpoint), endpoint: file });
    }
    items.push({ label: '$(edit) Enter a process id…', manual: true, description: 'a program that called reflens_agent.listen()' });
    const picked = await vscode.window.showQuickPick(items, {
      title: 'reflens: Attach to a Running Program',
      placeHolder: items.length > 1 ? 'Programs that called reflens_agent.listen()' : `No program is listening (endpoints in ${directory})`,
      ignoreFocusOut: true,
    });
    if (!picked) {
      return;
    }
    let argument: Record<string, unknown>;
    if (picked.manual) {
      const pid = await vscode.window.showInputBox({
        title: 'reflens: Attach',
        prompt: 'The process id of a program that called reflens_agent.listen()',
        validateInput: (t) => (/^\d+$/.test(t.trim()) ? undefined : 'A process id (a number).'),
      });
      if (!pid) {
        return;
      }
      argument = { pid: Number(pid.trim()) };
    } else {
      argument = { endpoint: picked.endpoint };
    }
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (folder) {
      argument.root = folder.uri.fsPath;
    }
    await this.server.execute('reflens.live.attach', argument);
  }

  async ruleDocs(arg?: unknown): Promise<void> {
    let code = typeof arg === 'string' ? arg : undefined;
    const editor = vscode.window.activeTextEditor;
    if (!code && editor) {
      const position = editor.selection.active;
      const here = vscode.languages
        .getDiagnostics(editor.document.uri)
        .filter((d) => (d.source === 'reflens' || d.source === 'reflens-live') && d.range.contains(position))
        .map((d) => diagnosticCode(d))
        .filter((c): c is string => c !== undefined && /^RL\d{3}$/.test(c));
      const unique = [...new Set(here)];
      if (unique.length === 1) {
        code = unique[0];
      } else if (unique.length > 1) {
        code = await vscode.window.showQuickPick(unique, { title: 'reflens: which rule?' });
        if (!code) {
          return;
        }
      }
    }
    if (!code) {
      code = await this.pickRule();
      if (!code) {
        return;
      }
    }
    const rule = await this.server.execute<{ code: string; name: string; markdown: string; url: string }>('reflens.rule', { code });
    const footer = rule.url ? `\n\n---\n\n[${rule.code} online](${rule.url})\n` : '';
    await this.docs.show(`${rule.code} ${rule.name}`, `${rule.markdown}${footer}`);
  }

  private async pickRule(): Promise<string | undefined> {
    let rules: Array<{ code: string; name: string; summary: string }> = [];
    const binary = this.server.binaryPath;
    if (binary) {
      rules = await new Promise((resolve) => {
        childProcess.execFile(binary, ['rule', '--all'], { timeout: 10000 }, (error, stdout) => {
          resolve(error ? [] : ruleCodesFromTable(String(stdout)));
        });
      });
    }
    if (rules.length === 0) {
      return (await vscode.window.showInputBox({ title: 'reflens: Show Rule Documentation', prompt: 'A rule code or name', placeHolder: 'RL401' }))?.trim();
    }
    const picked = await vscode.window.showQuickPick(
      rules.map((r) => ({ label: r.code, description: r.name, detail: r.summary })),
      { title: 'reflens: Show Rule Documentation', matchOnDescription: true, matchOnDetail: true },
    );
    return picked?.label;
  }

  async referenceGraph(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== 'python') {
      throw new Error('put the cursor on a name in a Python file');
    }
    const position = editor.selection.active;
    const word = editor.document.getText(editor.document.getWordRangeAtPosition(position)) || 'the object';
    let facts: ObjectFacts;
    try {
      facts = await this.server.execute<ObjectFacts>('reflens.live.inspect', {
        uri: this.server.uriOf(editor.document.uri),
        position: { line: position.line, character: position.character },
      });
    } catch (error) {
      const message = errorText(error);
      if (this.graph.isOpen) {
        this.graph.showMessage(`No graph for ${word}`, message);
      }
      throw new Error(`no reference graph for \`${word}\`: ${message}`, { cause: error });
    }
    const where = `${baseName(editor.document.uri.path)}:${position.line + 1}${this.state ? `, session ${this.state.state}` : ''}`;
    this.graph.showFacts(facts, where);
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l) ?? '';
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function diagnosticCode(diagnostic: vscode.Diagnostic): string | undefined {
  const code = diagnostic.code;
  if (code === undefined) {
    return undefined;
  }
  if (typeof code === 'object') {
    return String(code.value);
  }
  return String(code);
}
