// VS Code client for the Journey language server: launches `journey lsp` (by default) and talks
// LSP to it over stdin/stdout with vscode-languageclient.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.OutputChannel | undefined} */
let outputChannel;
/** @type {vscode.FileSystemWatcher | undefined} */
let watcher;

/** The server command and arguments, from the `journey.server.*` settings. */
function serverCommand() {
  const config = vscode.workspace.getConfiguration('journey.server');
  let command = String(config.get('path') || 'journey').trim();
  const args = config.get('args');

  if (command === '~' || command.startsWith('~/')) {
    command = path.join(os.homedir(), command.slice(1));
  }
  // A bare name ("journey") is looked up on PATH; a relative path with a directory part
  // (".build/release/journey") is taken relative to the first workspace folder.
  if (hasDirectory(command) && !path.isAbsolute(command)) {
    const folder = (vscode.workspace.workspaceFolders || [])[0];
    if (folder && folder.uri.scheme === 'file') {
      command = path.join(folder.uri.fsPath, command);
    }
  }
  return { command, args: Array.isArray(args) ? args.map(String) : ['lsp'] };
}

function hasDirectory(command) {
  return command.includes('/') || command.includes('\\');
}

function isExecutable(file) {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The file that running `command` would execute, or undefined if there is none. */
function resolveExecutable(command) {
  const extensions =
    process.platform === 'win32' ? ['', ...(process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';')] : [''];
  const candidates = hasDirectory(command)
    ? [command]
    : (process.env.PATH || '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, command));
  for (const candidate of candidates) {
    for (const ext of extensions) {
      if (isExecutable(candidate + ext)) return candidate + ext;
    }
  }
  return undefined;
}

function describe(error) {
  let text = 'unknown error';
  if (typeof error === 'string') text = error;
  else if (error) text = error.message || String(error);
  return text.replace(/[.\s]+$/, '');
}

async function reportStartFailure(message) {
  const choice = await vscode.window.showErrorMessage(
    `Journey: ${message} Set "journey.server.path" to the journey binary ` +
      '(for example .build/release/journey) and "journey.server.args" to the arguments that start ' +
      'its language server.',
    'Open Settings',
    'Show Log'
  );
  if (choice === 'Open Settings') {
    void vscode.commands.executeCommand('workbench.action.openSettings', 'journey.server');
  } else if (choice === 'Show Log' && outputChannel) {
    outputChannel.show(true);
  }
}

async function startClient() {
  const { command, args } = serverCommand();
  const shown = [command, ...args].join(' ');

  const executablePath = resolveExecutable(command);
  if (!executablePath) {
    const where = hasDirectory(command) ? 'there is no executable file there' : 'it is not on PATH';
    outputChannel.appendLine(`Cannot start \`${shown}\`: ${where}.`);
    await reportStartFailure(`cannot start the language server \`${shown}\`: ${where}.`);
    return;
  }

  // No `transport` on purpose: with TransportKind.stdio, vscode-languageclient appends a
  // `--stdio` argument to the command line; without one it still speaks over stdin/stdout.
  const executable = { command: executablePath, args };
  const serverOptions = { run: executable, debug: executable };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'journey' }],
    synchronize: { fileEvents: watcher },
    outputChannel,
  };

  const starting = new LanguageClient('journey', 'Journey Language Server', serverOptions, clientOptions);
  client = starting;
  try {
    await starting.start();
    outputChannel.appendLine(`Started \`${shown}\`.`);
  } catch (error) {
    if (client === starting) client = undefined;
    outputChannel.appendLine(`Starting \`${shown}\` failed: ${describe(error)}`);
    await reportStartFailure(`the language server \`${shown}\` did not start: ${describe(error)}.`);
  }
}

async function stopClient() {
  const running = client;
  client = undefined;
  if (running) {
    try {
      await running.stop();
    } catch (error) {
      outputChannel.appendLine(`Stopping the language server failed: ${describe(error)}`);
    }
  }
}

async function restartClient() {
  await stopClient();
  await startClient();
}

async function activate(context) {
  outputChannel = vscode.window.createOutputChannel('Journey Language Server');
  watcher = vscode.workspace.createFileSystemWatcher('**/*.journey');
  context.subscriptions.push(
    outputChannel,
    watcher,
    vscode.commands.registerCommand('journey.restartServer', restartClient),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('journey.server')) {
        void restartClient();
      }
    })
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
