// Small building blocks shared by the pages: cards, tabs, dialogs, notices, throttling.
import { h, type Child } from './dom';
import { STATUS_CLASS } from './format';

export function card(title: Child, attrs: Record<string, string> = {}, ...body: Child[]): HTMLElement {
  return h('section', { class: 'card', ...attrs }, h('h2', null, title), ...body);
}

export function badge(status: string, big = false): HTMLElement {
  return h('span', { class: `badge ${STATUS_CLASS[status] ?? ''}${big ? ' big' : ''}`, 'data-testid': big ? 'exp-status' : null }, status);
}

export function field(label: string, value: Child, testid?: string): HTMLElement {
  return h('div', { class: 'field' }, h('div', { class: 'label' }, label),
    h('div', { class: 'value', 'data-testid': testid ?? null }, value));
}

export interface Tab { id: string; label: string; }

/** A row of tab buttons; calls `onSelect` with the chosen id. */
export function tabs(items: Tab[], current: string, onSelect: (id: string) => void, testid: string): HTMLElement {
  const bar = h('div', { class: 'tabs', role: 'tablist', 'data-testid': testid });
  for (const item of items) {
    const button = h('button', {
      class: item.id === current ? 'tab active' : 'tab', role: 'tab', 'data-tab': item.id,
      onclick: () => {
        for (const b of bar.querySelectorAll('.tab')) b.classList.toggle('active', b === button);
        onSelect(item.id);
      },
    }, item.label);
    bar.appendChild(button);
  }
  return bar;
}

export function toast(message: string, kind: 'ok' | 'error' = 'ok'): void {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts' });
    document.body.appendChild(box);
  }
  const note = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.appendChild(note);
  setTimeout(() => note.remove(), kind === 'error' ? 8000 : 4000);
}

/** A modal dialog; resolves when closed. `actions` get a `close` callback. */
export function modal(title: string, body: Child, actions: (close: () => void) => Child = () => null,
                      testid = 'dialog', wide = false): () => void {
  const close = () => { overlay.remove(); document.removeEventListener('keydown', onKey); };
  const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') close(); };
  const overlay = h('div', { class: 'overlay', onclick: (e: Event) => { if (e.target === overlay) close(); } },
    h('div', { class: wide ? 'dialog wide' : 'dialog', role: 'dialog', 'data-testid': testid },
      h('header', null, h('h3', null, title), h('button', { class: 'icon', title: 'Close', 'aria-label': 'Close', onclick: close }, '×')),
      h('div', { class: 'dialog-body' }, body),
      h('footer', null, actions(close))));
  document.addEventListener('keydown', onKey);
  document.body.appendChild(overlay);
  return close;
}

/** Calls `fn` at most once per `ms`, always running the last request (trailing edge). */
export function throttle(fn: () => void, ms: number): () => void {
  let last = 0;
  let timer: number | null = null;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0 && timer === null) {
      last = Date.now();
      fn();
    } else if (timer === null) {
      timer = window.setTimeout(() => { timer = null; last = Date.now(); fn(); }, Math.max(wait, 0));
    }
  };
}

export function pre(text: string, testid?: string): HTMLElement {
  return h('pre', { class: 'code', 'data-testid': testid ?? null }, text);
}

export function emptyNote(text: string): HTMLElement {
  return h('div', { class: 'empty' }, text);
}
