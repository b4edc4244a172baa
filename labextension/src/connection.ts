/**
 * One notebook's "sshpty.host" comm: opened once per kernel (again after a restart or a kernel
 * change), turning what the kernel sends into a HostView. Kept thin: the format is checked in
 * protocol.ts and turned into text in display.ts.
 */

import type { ISessionContext } from '@jupyterlab/apputils';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { viewOf, WAITING_VIEW, type HostView } from './display';
import { COMM_TARGET, parsePresence, PRESENCE_REQUEST } from './protocol';

/** Kernel statuses after which the kernel's comms are gone (services disposes them). */
const COMMS_LOST: ReadonlySet<Kernel.Status> = new Set([
  'restarting',
  'autorestarting',
  'dead'
]);

export class HostConnection {
  constructor(private readonly _session: ISessionContext) {
    _session.kernelChanged.connect(this._onKernelChanged, this);
    _session.statusChanged.connect(this._onStatusChanged, this);
    _session.connectionStatusChanged.connect(this._onConnectionStatus, this);
    void this._open();
  }

  /** What to show; null when the kernel is not sshpty (or there is none): show nothing. */
  get view(): HostView | null {
    return this._view;
  }

  get changed(): ISignal<this, HostView | null> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Ask the kernel for its current Presence; the answer comes as any other. */
  requestPresence(): void {
    const comm = this._comm;
    if (comm === null || comm.isDisposed) {
      return;
    }
    try {
      comm.send(PRESENCE_REQUEST);
    } catch (error) {
      console.warn('sshpty: could not ask the kernel for its host', error);
    }
  }

  /** Close the comm (the kernel stops sending) and stop following the session. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    const comm = this._comm;
    this._reset(null);
    if (comm !== null && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // The kernel is gone already: nothing to tell it.
      }
    }
    Signal.clearData(this);
  }

  private _onKernelChanged(): void {
    this._reset(null);
    void this._open();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (COMMS_LOST.has(status)) {
      this._reset(this._view === null ? null : WAITING_VIEW);
      this._reopen = true;
    } else if (this._reopen && (status === 'idle' || status === 'busy')) {
      // The restarted kernel answers: it is a new process, with a new comm to open.
      this._reopen = false;
      void this._open();
    }
  }

  private _onConnectionStatus(
    _: ISessionContext,
    status: Kernel.ConnectionStatus
  ): void {
    // Messages sent while the websocket was down are lost: ask again.
    if (status === 'connected') {
      this.requestPresence();
    }
  }

  /** Forget the comm; whatever an earlier _open still awaits is stale from now on. */
  private _reset(view: HostView | null): void {
    this._epoch += 1;
    this._comm?.dispose();
    this._comm = null;
    this._setView(view);
  }

  private async _open(): Promise<void> {
    const epoch = this._epoch;
    const kernel = this._session.session?.kernel ?? null;
    if (kernel === null) {
      this._setView(null);
      return;
    }
    let info: KernelMessage.IInfoReply;
    try {
      info = await kernel.info;
    } catch {
      return; // the kernel went away before it said what it is
    }
    if (epoch !== this._epoch || this._disposed) {
      return;
    }
    if (info.implementation !== 'sshpty') {
      this._setView(null);
      return;
    }
    this._setView(WAITING_VIEW);
    try {
      const comm = kernel.createComm(COMM_TARGET);
      comm.onMsg = msg => this._onMessage(epoch, msg);
      // An sshpty that does not know the target closes the comm (messaging spec, "Comms"):
      // stay at "waiting", never an error.
      comm.onClose = () => {
        if (epoch === this._epoch) {
          this._comm = null;
        }
      };
      this._comm = comm;
      comm.open({}).done.catch(() => undefined);
    } catch (error) {
      console.warn('sshpty: could not open the host comm', error);
    }
  }

  private _onMessage(epoch: number, msg: KernelMessage.ICommMsgMsg): void {
    if (epoch !== this._epoch) {
      return;
    }
    const parsed = parsePresence(msg.content.data);
    if (!parsed.ok) {
      console.warn(
        `sshpty: ignoring a host message: ${parsed.reason}`,
        msg.content.data
      );
      return;
    }
    this._setView(viewOf(parsed.presence));
  }

  private _setView(view: HostView | null): void {
    if (view === this._view) {
      return;
    }
    this._view = view;
    this._changed.emit(view);
  }

  private _view: HostView | null = null;
  private _comm: Kernel.IComm | null = null;
  /** Bumped on every kernel change and restart, so late answers of the old kernel are dropped. */
  private _epoch = 0;
  private _reopen = false;
  private _disposed = false;
  private readonly _changed = new Signal<this, HostView | null>(this);
}
