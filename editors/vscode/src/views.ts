// Read-only documents (rule docs, garbage and growth reports) shown as Markdown previews, and
// the reference graph webview.

import * as vscode from 'vscode';

import { graphHtml, messageHtml, ObjectFacts } from './graph';

export const DOC_SCHEME = 'reflens-doc';

/** Markdown documents that live in memory (`reflens-doc:/RL401.md`). */
export class DocumentStore implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  /** Stores `markdown` under `name` and shows it rendered. */
  async show(name: string, markdown: string): Promise<vscode.Uri> {
    const uri = vscode.Uri.from({ scheme: DOC_SCHEME, path: `/${name}.md` });
    this.texts.set(uri.toString(), markdown);
    this.changed.fire(uri);
    try {
      await vscode.commands.executeCommand('markdown.showPreview', uri);
    } catch {
      // The Markdown extension is disabled: show the source.
      const document = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
    }
    return uri;
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** The "reflens: reference graph" panel (one, reused). It runs no script: the graph is SVG. */
export class GraphPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;

  showFacts(facts: ObjectFacts, where: string): void {
    const panel = this.ensure();
    panel.title = `Reference graph: ${facts.expression}`;
    panel.webview.html = graphHtml(facts, where);
    panel.reveal(undefined, true);
  }

  showMessage(title: string, message: string): void {
    const panel = this.ensure();
    panel.title = 'Reference graph';
    panel.webview.html = messageHtml(title, message);
    panel.reveal(undefined, true);
  }

  get isOpen(): boolean {
    return this.panel !== undefined;
  }

  private ensure(): vscode.WebviewPanel {
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(
        'reflens.referenceGraph',
        'Reference graph',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: false, enableFindWidget: true, localResourceRoots: [] },
      );
      this.panel.onDidDispose(() => {
        this.panel = undefined;
      });
    }
    return this.panel;
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
