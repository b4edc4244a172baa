/**
 * The plugin: wires the host item into every notebook's toolbar (JupyterLab and Notebook 7)
 * and into JupyterLab's status bar, following the current notebook. One HostConnection per
 * notebook, shared by both items, so a notebook opens one comm.
 *
 * And the live terminal (terminal.ts): a MIME renderer cannot reach the kernel's comms by
 * itself, so, as jupyter_bokeh does, every notebook gets its own renderer factory, added to
 * that notebook's rendermime (a clone per notebook) and bound to that notebook's
 * TerminalConnection.
 */

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { INotebookTracker, type NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';

import { HostConnection } from './connection';
import { TERMINAL_RANK, terminalRendererFactory } from './terminal';
import { TerminalConnection } from './terminalConnection';
import { HostWidget } from './widget';

const PLUGIN_ID = 'sshpty-labextension:plugin';

/** The toolbar item's name; schema/plugin.json places it through "jupyter.lab.toolbars". */
const TOOLBAR_ITEM = 'sshpty-host';

const connections = new WeakMap<NotebookPanel, HostConnection>();

/** The notebook's connection, made on first use and disposed with the notebook. */
function connectionFor(panel: NotebookPanel): HostConnection {
  let connection = connections.get(panel);
  if (connection === undefined || connection.isDisposed) {
    const made = new HostConnection(panel.sessionContext);
    panel.disposed.connect(() => made.dispose());
    connections.set(panel, made);
    connection = made;
  }
  return connection;
}

const withTerminals = new WeakSet<NotebookPanel>();

/**
 * Give the notebook the terminal renderer: its own TerminalConnection (the "sshpty.terminal"
 * comm, opened for an sshpty kernel only) and a factory in its rendermime that beats
 * text/html and text/plain (lower rank wins; JupyterLab's lowest built-in rank is 50).
 */
function addTerminalRenderer(panel: NotebookPanel): void {
  if (withTerminals.has(panel) || panel.isDisposed) {
    return;
  }
  withTerminals.add(panel);
  const connection = new TerminalConnection(panel.sessionContext);
  panel.disposed.connect(() => connection.dispose());
  const notebook = panel.content;
  notebook.rendermime.addFactory(
    terminalRendererFactory({
      connection,
      focusNotebook: node => {
        const index = notebook.widgets.findIndex(cell =>
          cell.node.contains(node)
        );
        if (index !== -1) {
          notebook.activeCellIndex = index;
        }
        notebook.mode = 'command';
        // The focus on the cell node itself: the notebook's command mode on that cell.
        notebook.activeCell?.node.focus({ preventScroll: true });
      }
    }),
    TERMINAL_RANK
  );
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Shows the host a sshpty notebook runs on, and its connection state.',
  autoStart: true,
  requires: [INotebookTracker, IToolbarWidgetRegistry],
  // Notebook 7 has no status bar: there the toolbar item alone shows the host.
  optional: [IStatusBar],
  activate: (
    _app: JupyterFrontEnd,
    tracker: INotebookTracker,
    toolbarRegistry: IToolbarWidgetRegistry,
    statusBar: IStatusBar | null
  ): void => {
    tracker.widgetAdded.connect((_, panel) => addTerminalRenderer(panel));
    tracker.forEach(addTerminalRenderer);

    toolbarRegistry.addFactory<NotebookPanel>(
      'Notebook',
      TOOLBAR_ITEM,
      panel => {
        const item = new HostWidget();
        item.follow(connectionFor(panel));
        return item;
      }
    );

    if (statusBar !== null) {
      const item = new HostWidget();
      const followCurrent = (): void => {
        const panel = tracker.currentWidget;
        item.follow(panel === null ? null : connectionFor(panel));
      };
      tracker.currentChanged.connect(followCurrent);
      followCurrent();
      statusBar.registerStatusItem(`${PLUGIN_ID}:status`, {
        item,
        align: 'left',
        rank: 5,
        isActive: () => item.view !== null,
        activeStateChanged: item.viewChanged
      });
    }
  }
};

export default plugin;
