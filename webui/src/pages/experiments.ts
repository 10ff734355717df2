// All experiments in the manifest, searchable; each opens here (read from its database, live while it
// runs) or in its own portal, and any few of them go to the compare view together.
import { SingleFlight, getJson, root as workspaceRoot } from '../api';
import { h, replace } from '../dom';
import { formatTime } from '../format';
import type { Page } from '../main';
import type { ExperimentRow } from '../types';
import { badge, card, emptyNote } from '../ui';

export function experimentsPage(): Page {
  let root: HTMLElement;
  let rows: ExperimentRow[] = [];
  let search = '';
  let timer = 0;
  const chosen = new Set<string>();
  const tableBox = h('div', { class: 'table-wrap' });
  const compareButton = h('button', { class: 'primary', 'data-testid': 'compare-selected', disabled: true,
    onclick: () => { location.hash = `#/compare?ids=${[...chosen].map(encodeURIComponent).join(',')}`; } }, 'Compare selected');
  const load = new SingleFlight(async () => {
    rows = (await getJson<{ experiments: ExperimentRow[] }>('experiments')).experiments;
    render();
  });

  function opener(r: ExperimentRow): Node {
    if (r.current) return h('a', { href: '#/overview', 'data-testid': `open-${r.id}` }, 'Open');
    if (r.alive && r.port) {
      return h('a', { href: `${location.protocol}//${location.hostname}:${r.port}/`, target: '_blank', rel: 'noopener',
        'data-testid': `open-${r.id}` }, 'Open');
    }
    return h('span', { class: 'hint', title: 'Not running: view it with this command' }, h('code', null, `nnictl view ${r.id}`));
  }

  function here(r: ExperimentRow): Node | null {
    if (r.current) return null;
    return h('a', { href: `${workspaceRoot}exp/${encodeURIComponent(r.id)}/`, 'data-testid': `view-${r.id}`,
      title: r.alive ? 'Follow it live on this page' : 'Read-only, on this page' }, 'View here');
  }

  function picker(r: ExperimentRow): HTMLInputElement {
    const box = h('input', { type: 'checkbox', 'data-testid': `select-${r.id}`, checked: chosen.has(r.id), 'aria-label': `compare ${r.id}` });
    box.addEventListener('change', () => {
      if (box.checked) chosen.add(r.id); else chosen.delete(r.id);
      compareButton.disabled = chosen.size === 0;
    });
    return box;
  }

  function render(): void {
    const words = search.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = rows.filter((r) => {
      const text = [r.id, r.experimentName ?? '', r.status ?? '', r.platform ?? '', String(r.port ?? '')].join(' ').toLowerCase();
      return words.every((w) => text.includes(w));
    });
    replace(tableBox, shown.length ? h('table', { class: 'table', 'data-testid': 'experiments-table' },
      h('thead', null, h('tr', null, ['', 'Name', 'ID', 'Status', 'Port', 'Platform', 'Start', 'End', ''].map((c) => h('th', null, c)))),
      h('tbody', null, shown.map((r) => h('tr', { 'data-experiment': r.id, class: r.current ? 'current' : '' },
        h('td', null, picker(r)), h('td', null, r.experimentName ?? '—'), h('td', { class: 'mono' }, r.id), h('td', null, badge(r.status ?? 'UNKNOWN')),
        h('td', null, r.port ? String(r.port) : '—'), h('td', null, r.platform ?? '—'),
        h('td', null, formatTime(r.startTime)), h('td', null, formatTime(r.endTime)), h('td', { class: 'actions' }, here(r), ' ', opener(r))))))
      : emptyNote(rows.length ? 'No experiment matches.' : 'No experiments in the manifest.'));
  }

  return {
    mount(el) {
      const input = h('input', { type: 'search', placeholder: 'Search name, id, status, platform…', 'data-testid': 'experiment-search', size: 36 });
      input.addEventListener('input', () => { clearTimeout(timer); timer = window.setTimeout(() => { search = input.value; render(); }, 150); });
      root = h('div', { class: 'page experiments', 'data-testid': 'page-experiments' },
        card('All experiments', {}, h('div', { class: 'controls' }, input, h('button', { onclick: () => load.request() }, 'Refresh'), compareButton), tableBox));
      el.appendChild(root);
      load.request();
    },
    unmount() { clearTimeout(timer); root.remove(); },
  };
}
