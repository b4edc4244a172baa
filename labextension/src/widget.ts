/**
 * The host item: a small widget that shows one HostConnection's view. The same widget is the
 * notebook toolbar item and the status bar item, so both carry the same DOM hooks:
 *
 *   <div class="sshpty-host sshpty-host-tone-ok" data-sshpty-state="connected" title="...">
 *     <span class="sshpty-host-mark">prod</span>            (hidden when there is no mark)
 *     <span class="sshpty-host-label">root@web1 (web1)</span>
 *     <span class="sshpty-host-state">connected</span>
 *   </div>
 *
 * data-sshpty-state is "none" (and the widget hidden) when the kernel is not sshpty. Every text
 * goes in with textContent: host names and marks come from the user and may contain markup.
 */

import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import type { HostConnection } from './connection';
import type { HostView, Tone } from './display';

const TONES: readonly Tone[] = ['ok', 'progress', 'warning', 'idle'];

export class HostWidget extends Widget {
  constructor() {
    super();
    this.addClass('sshpty-host');
    this._mark = this._child('sshpty-host-mark');
    this._label = this._child('sshpty-host-label');
    this._state = this._child('sshpty-host-state');
    this._render(null);
  }

  /** What is shown; null when nothing is (not an sshpty kernel). */
  get view(): HostView | null {
    return this._view;
  }

  /** Emitted whenever the view changes (the status bar's activeStateChanged). */
  get viewChanged(): ISignal<this, void> {
    return this._viewChanged;
  }

  /** Show what `connection` reports from now on; null shows nothing. */
  follow(connection: HostConnection | null): void {
    this._connection?.changed.disconnect(this._onChanged, this);
    this._connection = connection;
    connection?.changed.connect(this._onChanged, this);
    this._render(connection?.view ?? null);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.follow(null);
    Signal.clearData(this);
    super.dispose();
  }

  private _onChanged(_: HostConnection, view: HostView | null): void {
    this._render(view);
  }

  private _child(className: string): HTMLSpanElement {
    const span = document.createElement('span');
    span.className = className;
    this.node.appendChild(span);
    return span;
  }

  private _render(view: HostView | null): void {
    this._view = view;
    const node = this.node;
    node.dataset.sshptyState = view?.state ?? 'none';
    node.classList.toggle('sshpty-host-inactive', view === null);
    for (const tone of TONES) {
      node.classList.toggle(`sshpty-host-tone-${tone}`, view?.tone === tone);
    }
    node.title = view?.title ?? '';
    this._label.textContent = view?.label ?? '';
    this._state.textContent = view?.stateText ?? '';
    this._state.hidden = !view?.stateText;
    const mark = view?.mark ?? null;
    this._mark.hidden = mark === null;
    this._mark.textContent = mark?.name ?? '';
    this._mark.style.backgroundColor = mark?.background ?? '';
    this._mark.style.color = mark?.foreground ?? '';
    this._viewChanged.emit();
  }

  private _view: HostView | null = null;
  private _connection: HostConnection | null = null;
  private readonly _mark: HTMLSpanElement;
  private readonly _label: HTMLSpanElement;
  private readonly _state: HTMLSpanElement;
  private readonly _viewChanged = new Signal<this, void>(this);
}
