// The reflens extension: starts `reflens server` for Python files, and adds the live-session
// commands, the status bar item, the output channels and the reference graph.

import * as vscode from 'vscode';

import { Live } from './live';
import { ServerManager } from './server';
import { DOC_SCHEME, DocumentStore, GraphPanel } from './views';

let server: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<{ server: ServerManager }> {
  const docs = new DocumentStore();
  const graph = new GraphPanel();
  const live = new Live(docs, graph);
  server = new ServerManager(context, {
    onLiveState: (state) => live.onLiveState(state),
    onLiveOutput: (output) => live.onLiveOutput(output),
    onServerChanged: (running, problem) => live.onServerChanged(running, problem),
  });
  live.server = server;
  context.subscriptions.push(
    server,
    live,
    graph,
    docs,
    vscode.workspace.registerTextDocumentContentProvider(DOC_SCHEME, docs),
  );
  live.register(context);
  const manager = server;
  context.subscriptions.push(
    vscode.commands.registerCommand('reflens.restartServer', async () => {
      await manager.restart();
      if (manager.running) {
        void vscode.window.setStatusBarMessage('reflens: server restarted', 3000);
      }
    }),
    vscode.commands.registerCommand('reflens.showServerLog', () => manager.log.show(true)),
  );
  void server.start();
  return { server };
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
