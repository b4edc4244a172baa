/**
 * The plugin: wires the host item into every notebook's toolbar (JupyterLab and Notebook 7)
 * and into JupyterLab's status bar, following the current notebook. One HostConnection per
 * notebook, shared by both items, so a notebook opens one comm.
 */

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { INotebookTracker, type NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';

import { HostConnection } from './connection';
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
