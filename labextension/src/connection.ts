/**
 * One notebook's "sshpty.host" comm (see kernelComm.ts for when it opens and closes), turning
 * what the kernel sends into a HostView. Kept thin: the format is checked in protocol.ts and
 * turned into text in display.ts.
 */

import type { ISessionContext } from '@jupyterlab/apputils';
import { ISignal, Signal } from '@lumino/signaling';

import { viewOf, WAITING_VIEW, type HostView } from './display';
import { KernelComm } from './kernelComm';
import { COMM_TARGET, parsePresence, PRESENCE_REQUEST } from './protocol';

export class HostConnection extends KernelComm {
  constructor(session: ISessionContext) {
    super(session, COMM_TARGET);
  }

  /** What to show; null when the kernel is not sshpty (or there is none): show nothing. */
  get view(): HostView | null {
    return this._view;
  }

  get changed(): ISignal<this, HostView | null> {
    return this._changed;
  }

  /** Ask the kernel for its current Presence; the answer comes as any other. */
  requestPresence(): void {
    this.send(PRESENCE_REQUEST, 'a request for the host');
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    super.dispose();
    Signal.clearData(this);
  }

  protected openData(): unknown {
    return {};
  }

  protected opened(): void {
    this._setView(WAITING_VIEW);
  }

  protected received(data: unknown): void {
    const parsed = parsePresence(data);
    if (!parsed.ok) {
      console.warn(`sshpty: ignoring a host message: ${parsed.reason}`, data);
      return;
    }
    this._setView(viewOf(parsed.presence));
  }

  protected lost(): void {
    // An sshpty kernel that restarts stays one: wait for it; with no kernel, show nothing.
    const waiting = this._view !== null && !this.isDisposed;
    this._setView(waiting ? WAITING_VIEW : null);
  }

  protected notSshpty(): void {
    this._setView(null);
  }

  protected reconnected(): void {
    // Messages sent while the websocket was down are lost: ask again.
    this.requestPresence();
  }

  private _setView(view: HostView | null): void {
    if (view === this._view) {
      return;
    }
    this._view = view;
    this._changed.emit(view);
  }

  private _view: HostView | null = null;
  private readonly _changed = new Signal<this, HostView | null>(this);
}
